"""Pre-trained models shipped inside the package, loaded by name.

Each shipped model is an ordinary model directory in a sub-folder of this package,
``samplevae/pretrained/<name>/``::

    params.json                   the architecture, audio parameters and class names
    checkpoints/step-NNNNNNNN/    one checkpoint: the weights only (no optimizer state)
    sampler.npz                   the latent sampler fitted on the training files
    model.json                    what it is: description, sources and their licences, training
                                  steps and date, weights fingerprint, figures on unseen kits

``SoundSampleTool("drums")`` and ``samplevae map DIR --model drums`` take a shipped name
wherever they take a model directory. A shipped folder is never written to: the libraries'
embedding caches and a refitted sampler of a shipped (or any read-only) model go to a per-user
cache folder, :func:`user_cache_dir`. ``scripts/train_pretrained.py`` reproduces each model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from samplevae.errors import ModelError

__all__ = [
    "PACKAGE_DIR",
    "shipped_names",
    "resolve_model_dir",
    "is_shipped",
    "model_info",
    "user_cache_dir",
    "cache_root",
]

PACKAGE_DIR = Path(__file__).resolve().parent
INFO_FILE = "model.json"


def shipped_names() -> list[str]:
    """Names of the models shipped in this package (sub-folders holding a ``params.json``)."""
    return sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "params.json").is_file())


def _is_name(text: str) -> bool:
    return bool(text) and os.sep not in text and "/" not in text and text not in (".", "..")


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """The model directory meant by ``name_or_path``.

    A folder holding a ``params.json`` is a model directory and is returned as given; otherwise
    a shipped model's name (see :func:`shipped_names`) gives that model's folder (so a sample
    folder called ``drums`` in the current directory does not hide the ``drums`` model); any
    other existing path is returned as given (``ModelDir`` then says what it lacks). Anything
    else raises :class:`~samplevae.errors.ModelError` naming the shipped models.
    """
    path = Path(name_or_path).expanduser()
    if (path / "params.json").is_file():
        return path
    name = os.fspath(name_or_path)
    if _is_name(name) and (PACKAGE_DIR / name / "params.json").is_file():
        return PACKAGE_DIR / name
    if path.exists():
        return path
    known = ", ".join(shipped_names()) or "none"
    raise ModelError(
        f"{name_or_path}: no such model directory (no params.json), and not the name of a "
        f"shipped model (shipped: {known}; `samplevae models` lists them)"
    )


def is_shipped(path: str | os.PathLike) -> bool:
    """``path`` is one of the model folders of this package."""
    try:
        return Path(path).resolve().parent == PACKAGE_DIR
    except OSError:
        return False


def model_info(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The ``model.json`` of a shipped model (by name or folder): description, sources and
    licences, training, weights fingerprint, figures. ``{}`` for a model directory without one."""
    path = resolve_model_dir(name_or_path) / INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path}: unreadable model description ({e})") from e
    if not isinstance(info, dict):
        raise ModelError(f"{path}: not a JSON object")
    return info


def cache_root() -> Path:
    """``$SAMPLEVAE_CACHE``, else ``$XDG_CACHE_HOME/samplevae``, else ``~/.cache/samplevae``."""
    env = os.environ.get("SAMPLEVAE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "samplevae"


def user_cache_dir(model_dir: str | os.PathLike, fingerprint: str) -> Path:
    """Where the caches of the model in ``model_dir`` (libraries, a refitted sampler) go.

    The model directory itself, as for any model you trained; for a shipped model, or one in a
    folder this user cannot write to, ``<cache_root()>/<name>-<fingerprint>/`` instead (the
    fingerprint keeps caches of different weights apart). The folder is not created here.
    """
    path = Path(model_dir)
    if not is_shipped(path) and os.access(path, os.W_OK | os.X_OK):
        return path
    return cache_root() / f"{path.resolve().name}-{fingerprint}"


def reference_signal(sample_rate: int = 16000, seconds: float = 2.0):
    """A fixed test sound (a decaying 110 Hz tone with a noise burst, seeded): ``model.json``
    records each shipped model's embedding of it, so a test can tell that the weights load
    into the architecture and embed as they did when shipped."""
    import numpy as np

    n = int(round(sample_rate * seconds))
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(16).standard_normal(n)
    x = np.sin(2 * np.pi * 110 * t) * np.exp(-4 * t) + 0.3 * noise * np.exp(-30 * t)
    return (0.8 * x / np.max(np.abs(x))).astype(np.float32)
