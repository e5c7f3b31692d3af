"""Pre-trained models shipped inside the package, loaded by name.

Each shipped model is an ordinary model directory (``params.json`` + a checkpoint) in a
sub-folder of this package: ``samplevae/pretrained/<name>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from samplevae.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_names() -> list[str]:
    """Names of the models shipped in this package (sub-folders holding a ``params.json``)."""
    return sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "params.json").is_file())


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """The model directory meant by ``name_or_path``.

    An existing path is a model directory and is returned as given; otherwise a shipped
    model's name (see :func:`shipped_names`) gives that model's folder. Anything else raises
    :class:`~samplevae.errors.ModelError` naming the known models.
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    name = str(name_or_path)
    if os.sep not in name and "/" not in name and (PACKAGE_DIR / name / "params.json").is_file():
        return PACKAGE_DIR / name
    known = ", ".join(shipped_names()) or "none"
    raise ModelError(
        f"{name_or_path}: no such model directory, and not a shipped model (shipped: {known})"
    )
