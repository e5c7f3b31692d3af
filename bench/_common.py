"""Shared set-up of the benchmarks: an untrained model directory at the default architecture,
and the command-line wrapper that turns the project's errors into one line and exit code 1."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_model_dir(path: Path, class_names=()) -> Path:
    """A model directory with the default architecture and freshly initialised weights.

    Speed does not depend on training, so benchmarks need no trained model.
    """
    from samplevae.model import build_model
    from samplevae.modeldir import ModelDir
    from samplevae.params import RunParams

    md = ModelDir(path)
    params = RunParams(class_names=tuple(class_names))
    md.save_params(params)
    model = build_model(params, n_classes=len(class_names))
    md.save_checkpoint(model, {"step": 0})
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_reporting_errors(run: Callable[[object], int], args) -> int:
    """``run(args)``; a :class:`~samplevae.errors.SampleVAEError` is printed as one
    ``error: ...`` line on stderr and gives exit code 1 (no traceback)."""
    from samplevae.errors import SampleVAEError

    try:
        return run(args)
    except SampleVAEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
