"""A model directory (``logdir``): everything a trained model is, on disk.

Layout::

    <logdir>/
        params.json                 RunParams: audio + model + train params, dataset, classes
        metrics.jsonl               one JSON record per line ("kind": "train" | "valid")
        confusion.json              latest validation confusion matrix (with classes)
        confusion.png               the same, as an image
        checkpoints/
            step-00000500/          one complete checkpoint per folder
                model.weights.h5    Keras weights
                optimizer.npz       Adam state (numpy arrays, no pickles)
                state.json          step, learning rate, plateau history, ...
            step-00001000/

A checkpoint is written into a hidden temporary folder and renamed into place when complete,
so a run killed at any moment (even during a write) leaves the previous checkpoint whole;
the newest complete one is used. The two newest are kept.

Reading a model directory does not need the training code; ``load_model`` imports
TensorFlow, the rest does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samplevae.errors import ModelError, ParameterError
from samplevae.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from samplevae.params import RunParams

if TYPE_CHECKING:  # pragma: no cover
    from samplevae.model import SampleVAE

__all__ = ["ModelDir", "WEIGHTS_FILE", "KEEP_CHECKPOINTS"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
STATE_FILE = "state.json"
KEEP_CHECKPOINTS = 2
LOCK_FILE = ".train.lock"
_CKPT_RE = re.compile(r"^step-(\d{8,})$")


class ModelDir:
    """Read and write one model directory.

    Parameters
    ----------
    logdir : str or Path
        The folder (it need not exist yet).
    """

    def __init__(self, logdir: str | Path):
        self.path = Path(logdir).expanduser()

    def __repr__(self) -> str:
        return f"ModelDir({str(self.path)!r})"

    # ---- paths --------------------------------------------------------------------------

    @property
    def params_path(self) -> Path:
        return self.path / "params.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def confusion_path(self) -> Path:
        return self.path / "confusion.json"

    @property
    def confusion_png_path(self) -> Path:
        return self.path / "confusion.png"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    # ---- the writer lock ----------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self):
        """Hold the model directory's exclusive writer lock (training takes it).

        An OS file lock (``flock``) on ``<logdir>/.train.lock``: the kernel releases it when the
        holder exits, even by ``kill -9``, so no stale lock is ever left behind. Readers (the
        tool, the widgets) do not take it and keep working while a run trains.

        Raises
        ------
        ModelError
            Another process holds the lock; the message names its PID.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ModelError(f"{self.path}: logdir exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                raise ModelError(
                    f"{self.path}: another training run (PID {holder}) is writing to this model "
                    "directory; wait for it to finish or stop it, or use another --logdir") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            yield self
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # ---- params -------------------------------------------------------------------------

    def has_params(self) -> bool:
        """``params.json`` exists (training has started here)."""
        return self.params_path.is_file()

    def exists(self) -> bool:
        """``params.json`` and at least one complete checkpoint exist: :meth:`load_model` works."""
        return self.has_params() and self.latest_checkpoint() is not None

    @property
    def params(self) -> RunParams:
        """The :class:`RunParams` of ``params.json``.

        Raises
        ------
        ModelError
            No ``params.json`` (not a model directory) or an invalid one.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ModelError(f"{self.path}: not a model directory (it is a file)")
        if not self.params_path.is_file():
            raise ModelError(f"{self.path}: not a model directory (no params.json); "
                             "train one with `samplevae train --logdir DIR --dataset NAME`")
        try:
            return RunParams.load(self.params_path)
        except ParameterError as e:
            raise ModelError(f"{self.params_path}: invalid parameters ({e})") from e

    def save_params(self, params: RunParams) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        params.save(self.params_path)

    @property
    def class_names(self) -> list[str]:
        """Class names in the classifier's output order (empty without classifier)."""
        return list(self.params.class_names)

    # ---- checkpoints --------------------------------------------------------------------

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints as ``(step, folder)``, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        out = []
        for p in self.checkpoints_dir.iterdir():
            m = _CKPT_RE.match(p.name)
            if m and p.is_dir() and all((p / f).is_file() for f in (WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE)):
                out.append((int(m.group(1)), p))
        return sorted(out)

    def latest_checkpoint(self) -> Path | None:
        """Folder of the newest complete checkpoint, or None."""
        ckpts = self.checkpoints()
        return ckpts[-1][1] if ckpts else None

    def _require_checkpoint(self) -> Path:
        _ = self.params  # a clear error first if this is not a model directory at all
        ckpt = self.latest_checkpoint()
        if ckpt is None:
            raise ModelError(f"{self.path}: no saved weights yet (training has not written its "
                             "first checkpoint; it saves every checkpoint_every steps and on stop)")
        return ckpt

    @property
    def weights_path(self) -> Path:
        """The newest complete checkpoint's weights file."""
        return self._require_checkpoint() / WEIGHTS_FILE

    @property
    def step(self) -> int:
        """Training step of the newest checkpoint (0 if none)."""
        ckpts = self.checkpoints()
        return ckpts[-1][0] if ckpts else 0

    def weights_fingerprint(self) -> str:
        """Stable hash (16 hex digits) of the newest saved weights file.

        It changes whenever a new checkpoint is written; caches of embeddings key on it.
        """
        for _ in range(3):  # a checkpoint may be pruned between listing and reading
            path = self.weights_path
            try:
                return _sha256_file(path)[:16]
            except FileNotFoundError:
                continue
        raise ModelError(f"{self.path}: checkpoints keep changing; cannot read the weights")

    def train_state(self) -> dict[str, Any]:
        """``state.json`` of the newest checkpoint ({} if none)."""
        ckpt = self.latest_checkpoint()
        if ckpt is None:
            return {}
        return _read_json(ckpt / STATE_FILE)

    def load_model(self) -> SampleVAE:
        """Build the model of ``params.json`` and load the newest checkpoint's weights.

        Raises
        ------
        ModelError
            Not a model directory, no checkpoint yet, or weights that do not fit the params.
        """
        from samplevae.model import build_model

        params = self.params
        model = build_model(params, n_classes=len(params.class_names))
        for attempt in range(3):
            ckpt = self._require_checkpoint()
            try:
                _load_weights(model, ckpt / WEIGHTS_FILE)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise ModelError(f"{self.path}: checkpoints keep changing; cannot read the weights") from None
        model.step = int(_read_json(ckpt / STATE_FILE).get("step", 0))
        return model

    def save_checkpoint(self, model: SampleVAE, state: dict[str, Any]) -> Path:
        """Write a complete checkpoint for ``state["step"]`` atomically; prune old ones.

        Stores the model weights, the optimizer's variables (if it has one) and ``state``.
        """
        step = int(state["step"])
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints_dir / f"step-{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:08d}-", dir=self.checkpoints_dir))
        try:
            with warnings.catch_warnings():  # Keras' h5 writer trips numpy 2's __array__(copy=) notice
                warnings.simplefilter("ignore", DeprecationWarning)
                model.save_weights(tmp / WEIGHTS_FILE)
            _fsync(tmp / WEIGHTS_FILE)
            _save_optimizer(model, tmp / OPTIMIZER_FILE)
            atomic_write_json(tmp / STATE_FILE, state)
            if final.exists():  # same step saved twice (e.g. stop right after a checkpoint)
                old = self.checkpoints_dir / f".old-{final.name}-{os.getpid()}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self._prune()
        log.debug("checkpoint written: %s", final)
        return final

    def _prune(self) -> None:
        for _, p in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(p, ignore_errors=True)

    def clean_partial_checkpoints(self) -> list[Path]:
        """Remove the temporary folders left by interrupted checkpoint writes."""
        if not self.checkpoints_dir.is_dir():
            return []
        removed = []
        for p in self.checkpoints_dir.iterdir():
            if p.name.startswith((".tmp-step-", ".old-step-")):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    def restore_checkpoint(self, model: SampleVAE) -> dict[str, Any]:
        """Load the newest checkpoint into ``model`` (weights and, if compiled, optimizer).

        Returns the checkpoint's state dict ({} when there is no checkpoint).
        """
        ckpt = self.latest_checkpoint()
        if ckpt is None:
            return {}
        _load_weights(model, ckpt / WEIGHTS_FILE)
        if getattr(model, "optimizer", None) is not None:
            _load_optimizer(model, ckpt / OPTIMIZER_FILE)
        return _read_json(ckpt / STATE_FILE)

    # ---- metrics and confusion ----------------------------------------------------------

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Records of ``metrics.jsonl`` in order (only ``kind`` "train"/"valid" if given).

        A half-written last line (a run killed while writing) is skipped.
        """
        if not self.metrics_path.is_file():
            return []
        out = []
        with open(self.metrics_path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s: line %d is not valid JSON (interrupted write?); skipped",
                                self.metrics_path, n)
                    continue
                if kind is None or rec.get("kind") == kind:
                    out.append(rec)
        return out

    def append_metrics(self, record: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, default=_json_default, allow_nan=True)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()

    def truncate_metrics(self, step: int) -> int:
        """Drop records after ``step`` (written after the checkpoint a run resumes from).

        Returns the number of records dropped.
        """
        records = self.metrics()
        keep = [r for r in records if int(r.get("step", 0)) <= step]
        if len(keep) != len(records) or (self.metrics_path.is_file() and not records):
            text = "".join(json.dumps(r, default=_json_default) + "\n" for r in keep)
            atomic_write_text(self.metrics_path, text)
        return len(records) - len(keep)

    def confusion(self) -> dict[str, Any] | None:
        """The latest validation confusion report (see :func:`samplevae.train.confusion_report`),
        or None (no classes, or no validation yet)."""
        if not self.confusion_path.is_file():
            return None
        return _read_json(self.confusion_path)

    def write_confusion(self, report: dict[str, Any], png: bytes | None = None) -> None:
        """Write ``confusion.json`` (and ``confusion.png`` if given) atomically."""
        atomic_write_json(self.confusion_path, report, default=_json_default)
        if png is not None:
            atomic_write_bytes(self.confusion_png_path, png)


# ---- helpers ------------------------------------------------------------------------------

def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot read ({e})") from e


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _load_weights(model, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as e:
        raise ModelError(f"{path}: weights do not fit the model of params.json ({e})") from e


def _save_optimizer(model, path: Path) -> None:
    opt = getattr(model, "optimizer", None)
    arrays: dict[str, np.ndarray] = {}
    names: list[str] = []
    if opt is not None and opt.built:
        for i, v in enumerate(opt.variables):
            arrays[f"v{i:04d}"] = np.asarray(v.numpy())
            names.append(v.path)
    arrays["names"] = np.array(names, dtype=np.str_)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())


def _load_optimizer(model, path: Path) -> None:
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        if not names:
            log.info("%s: no optimizer state stored; starting Adam from scratch", path)
            return
        if len(names) != len(opt.variables):
            raise ModelError(f"{path}: optimizer state has {len(names)} variables, the model's "
                             f"optimizer {len(opt.variables)}; params.json and checkpoint disagree")
        for i, v in enumerate(opt.variables):
            value = data[f"v{i:04d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise ModelError(f"{path}: optimizer variable {names[i]} has shape {value.shape}, "
                                 f"expected {tuple(v.shape)}")
            v.assign(value)
