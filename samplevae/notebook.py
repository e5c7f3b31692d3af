"""What the workbench notebooks (``notebooks/*.py``) share: their set-up cell, and picking a
library file by its folder.

``SAMPLEVAE_SMOKE=1`` selects the tiny configuration (the tests run the notebooks so);
``SAMPLEVAE_DEMO_DIR`` names the folder that holds the kit, the workspace and the model
(default ``workbench_out`` in the current directory, which is the notebook's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from samplevae._quiet import quiet_tensorflow
from samplevae.demo import is_smoke
from samplevae.errors import ParameterError

__all__ = ["demo_dir", "setup", "first_in_folder"]


def demo_dir() -> Path:
    """The notebooks' working folder: ``$SAMPLEVAE_DEMO_DIR``, else ``./workbench_out``."""
    return Path(os.environ.get("SAMPLEVAE_DEMO_DIR") or "workbench_out").resolve()


def setup(*, verbose: bool = True) -> tuple[bool, Path]:
    """The first cell of every notebook: returns ``(smoke, out_dir)``.

    Also keeps TensorFlow's start-up log lines out of the notebook
    (:func:`samplevae._quiet.quiet_tensorflow`: ``TF_CPP_MIN_LOG_LEVEL=2`` unless already set,
    applied to the lines TensorFlow prints on import too); call it before anything imports
    TensorFlow.
    """
    quiet_tensorflow()
    smoke, out = is_smoke(), demo_dir()
    if verbose:
        print("smoke (tiny) configuration" if smoke else "full configuration", "- working in", out)
    return smoke, out


def first_in_folder(paths: Iterable[str | Path], folder: str) -> str:
    """The first of ``paths`` whose parent folder is named ``folder`` (in the demo kit, the
    folder is the class: ``first_in_folder(tool.library.paths, "kick")``)."""
    seen = set()
    for p in paths:
        parent = Path(p).parent.name
        if parent == folder:
            return str(p)
        seen.add(parent)
    raise ParameterError(
        f"no file in a folder named {folder!r}; the folders are: "
        f"{', '.join(sorted(seen)) or 'none (no files)'}"
    )
