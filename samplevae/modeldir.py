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
                manifest.json       size and SHA-256 of each file above (written last)
            step-00001000/
        .train.lock                 the writer lock of a training run (see ModelDir.lock)

A checkpoint is written into a hidden temporary folder and renamed into place when complete,
so a run killed at any moment (even during a write) leaves the previous checkpoint whole.
Every use of a checkpoint (loading, resuming, the step, the fingerprint) first checks it
against its manifest; a damaged one (a file cut off, flipped bytes on disk) is skipped with a
warning naming the file and the newest *intact* checkpoint is used; when none is intact, a
:class:`ModelError` names the damaged files. Checkpoints written before manifests existed get
structural checks instead (JSON parses, the ``.npz`` and ``.h5`` read back whole). The two
newest intact checkpoints are kept; a damaged one never pushes an intact one out.

Reading a model directory does not need the training code; ``load_model`` imports
TensorFlow, the rest does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samplevae.errors import ModelError, ParameterError
from samplevae.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    fsync_dir,
    sha256_file,
)
from samplevae.params import RunParams

if TYPE_CHECKING:  # pragma: no cover
    from samplevae.model import SampleVAE

__all__ = ["ModelDir", "WEIGHTS_FILE", "KEEP_CHECKPOINTS", "CHECKPOINT_CHOICES"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
CHECKPOINT_FILES = (WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE)
KEEP_CHECKPOINTS = 2
#: Which checkpoint a reader loads: ``"best"`` (the lowest validation loss so far; the newest
#: when the run recorded none) or ``"last"`` (the newest).
CHECKPOINT_CHOICES = ("best", "last")
LOCK_FILE = ".train.lock"
_CKPT_RE = re.compile(r"^step-(\d{8,})$")


class ModelDir:
    """Read and write one model directory.

    Parameters
    ----------
    logdir : str or Path
        The folder (it need not exist yet).
    checkpoint : ``"last"`` (default) or ``"best"``: the checkpoint that :meth:`load_model`,
        :attr:`weights_path`, :attr:`step` and :meth:`weights_fingerprint` refer to (see
        :meth:`best_checkpoint`). Training always resumes from the newest.
    """

    def __init__(self, logdir: str | Path, checkpoint: str = "last"):
        if checkpoint not in CHECKPOINT_CHOICES:
            raise ParameterError(
                f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}, got {checkpoint!r}"
            )
        self.path = Path(logdir).expanduser()
        self.checkpoint = checkpoint
        # checkpoint folder -> (stat signature, damage reason or None, weights SHA-256 or None):
        # each checkpoint is verified once per ModelDir while its files stay unchanged
        self._verified: dict[Path, tuple[tuple, str | None, str | None]] = {}
        self._reported: set[tuple[str, ...]] = set()

    def __repr__(self) -> str:
        extra = "" if self.checkpoint == "last" else f", checkpoint={self.checkpoint!r}"
        return f"ModelDir({str(self.path)!r}{extra})"

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
                    "directory; wait for it to finish or stop it, or use another --logdir"
                ) from None
            pid = f"{os.getpid()}\n".encode("ascii")
            os.pwrite(fd, pid, 0)  # write, then cut: a reader never sees an empty file
            os.ftruncate(fd, len(pid))
            yield self
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # ---- params -------------------------------------------------------------------------

    def has_params(self) -> bool:
        """``params.json`` exists (training has started here)."""
        return self.params_path.is_file()

    def exists(self) -> bool:
        """``params.json`` and at least one intact checkpoint exist: :meth:`load_model` works."""
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
            raise ModelError(
                f"{self.path}: not a model directory (no params.json); "
                "train one with `samplevae train --logdir DIR --dataset NAME`"
            )
        try:
            return RunParams.load(self.params_path, saved=True)
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
        """Complete checkpoints as ``(step, folder)``, oldest first.

        Complete = every file is there; whether they are intact is checked on use (see
        :meth:`latest_checkpoint`).
        """
        if not self.checkpoints_dir.is_dir():
            return []
        out = []
        for p in self.checkpoints_dir.iterdir():
            m = _CKPT_RE.match(p.name)
            if m and p.is_dir() and all((p / f).is_file() for f in CHECKPOINT_FILES):
                out.append((int(m.group(1)), p))
        return sorted(out)

    def checkpoint_damage(self, ckpt: str | Path) -> str | None:
        """Why the checkpoint folder ``ckpt`` cannot be used ("<file>: <reason>"), or None if
        it is intact.

        Checked against the checkpoint's ``manifest.json`` (size and SHA-256 of every file);
        a checkpoint written without one gets structural checks. The result is remembered
        while the files stay unchanged. A damaged checkpoint is logged (once) as a warning.

        Raises
        ------
        FileNotFoundError
            The checkpoint disappeared meanwhile (pruned by a running training).
        """
        ckpt = Path(ckpt)
        sig = _signature(ckpt)
        cached = self._verified.get(ckpt)
        if cached is not None and cached[0] == sig:
            return cached[1]
        reason, weights_sha = _verify_checkpoint(ckpt)
        if _signature(ckpt) != sig:  # rewritten while we read it: decide on the next call
            raise FileNotFoundError(ckpt)
        self._verified[ckpt] = (sig, reason, weights_sha)
        if reason is not None:
            log.warning("damaged checkpoint %s skipped: %s", ckpt.name, reason)
        return reason

    def _intact_checkpoint(self) -> tuple[tuple[int, Path] | None, list[str]]:
        """The newest intact checkpoint ``(step, folder)`` (or None) and the damage reasons of
        the newer ones skipped on the way."""
        damaged: list[str] = []
        for step, ckpt in reversed(self.checkpoints()):
            try:
                reason = self.checkpoint_damage(ckpt)
            except FileNotFoundError:
                continue  # pruned between listing and reading
            if reason is None:
                if damaged:
                    key = (str(ckpt), *damaged)
                    if key not in self._reported:
                        self._reported.add(key)
                        log.warning(
                            "%s: using the newest intact checkpoint %s (step %d) instead "
                            "of %d damaged newer one(s)",
                            self.path,
                            ckpt.name,
                            step,
                            len(damaged),
                        )
                return (step, ckpt), damaged
            damaged.append(reason)
        return None, damaged

    def latest_checkpoint(self) -> Path | None:
        """Folder of the newest complete and intact checkpoint, or None.

        A newer damaged checkpoint is skipped with a warning naming the file and why.
        """
        found, _ = self._intact_checkpoint()
        return found[1] if found else None

    def _newest_intact_or_raise(self) -> tuple[int, Path]:
        found, damaged = self._intact_checkpoint()
        if found is not None:
            return found
        if damaged:
            raise ModelError(
                f"{self.path}: no intact checkpoint left; "
                + "; ".join(damaged)
                + ". Restore the files from a backup, or delete the damaged checkpoint folders "
                f"under {self.checkpoints_dir} to train from scratch"
            )
        raise ModelError(
            f"{self.path}: no saved weights yet (training has not written its "
            "first checkpoint; it saves every checkpoint_every steps and on stop)"
        )

    def best_checkpoint(self) -> Path | None:
        """Folder of the checkpoint with the lowest validation loss, or None.

        Training records it in every checkpoint's ``state.json`` (``"best": {"step",
        "val_loss"}``), saves a checkpoint whenever a validation beats it, and never prunes it.
        None when the newest intact checkpoint records no best (no validation split, a model
        trained before this was recorded) or when that checkpoint is gone or damaged (then a
        warning says so).
        """
        best = self._best_of(self._intact_checkpoint()[0])
        return best[1] if best else None

    def _best_of(self, newest: tuple[int, Path] | None) -> tuple[int, Path] | None:
        """``(step, folder)`` of the best checkpoint that ``newest`` (the newest intact
        ``(step, folder)``) records, if it is there and intact; else None."""
        if newest is None:
            return None
        try:
            best = _read_json(newest[1] / STATE_FILE).get("best")
        except (FileNotFoundError, ModelError):
            return None
        if not isinstance(best, dict) or not isinstance(best.get("step"), int):
            return None
        if best["step"] == newest[0]:
            return newest
        ckpt = dict(self.checkpoints()).get(best["step"])
        try:
            reason = "missing" if ckpt is None else self.checkpoint_damage(ckpt)
        except FileNotFoundError:
            reason = "missing"
        if reason is not None:
            key = ("best", str(newest[1]), reason)
            if key not in self._reported:
                self._reported.add(key)
                log.warning(
                    "%s: the best checkpoint (step %d) is %s; using the newest (step %d)",
                    self.path,
                    best["step"],
                    "gone" if reason == "missing" else f"damaged ({reason})",
                    newest[0],
                )
            return None
        return best["step"], ckpt

    def _selected(self) -> tuple[int, Path] | None:
        """``(step, folder)`` of the checkpoint readers use (see ``checkpoint``), or None."""
        found, _ = self._intact_checkpoint()
        if self.checkpoint == "best":
            return self._best_of(found) or found
        return found

    def _require_checkpoint(self) -> Path:
        _ = self.params  # a clear error first if this is not a model directory at all
        found = self._selected()
        return found[1] if found else self._newest_intact_or_raise()[1]

    @property
    def weights_path(self) -> Path:
        """The weights file of the checkpoint readers use (the newest intact one, or with
        ``checkpoint="best"`` the best)."""
        return self._require_checkpoint() / WEIGHTS_FILE

    @property
    def step(self) -> int:
        """Training step of the checkpoint readers use (0 if none)."""
        found = self._selected()
        return found[0] if found else 0

    def weights_fingerprint(self) -> str:
        """Stable hash (16 hex digits) of the weights file readers use (see ``checkpoint``).

        It changes whenever a new checkpoint is written; caches of embeddings key on it.
        """
        for _ in range(3):  # a checkpoint may be pruned between listing and reading
            ckpt = self._require_checkpoint()
            try:
                cached = self._verified.get(ckpt)
                if cached is not None and cached[2] is not None and cached[0] == _signature(ckpt):
                    return cached[2][:16]
                return sha256_file(ckpt / WEIGHTS_FILE)[:16]
            except FileNotFoundError:
                continue
        raise ModelError(f"{self.path}: checkpoints keep changing; cannot read the weights")

    def train_state(self) -> dict[str, Any]:
        """``state.json`` of the newest intact checkpoint ({} if none)."""
        for _ in range(3):
            ckpt = self.latest_checkpoint()
            if ckpt is None:
                return {}
            try:
                return _read_json(ckpt / STATE_FILE)
            except FileNotFoundError:
                continue
        raise ModelError(f"{self.path}: checkpoints keep changing; cannot read the state")

    def load_model(self, precision: str = "float32") -> SampleVAE:
        """Build the model of ``params.json`` and load the weights of the checkpoint readers use
        (the newest intact one, or with ``checkpoint="best"`` the best).

        ``precision``: the Keras dtype policy it computes in (weights stay float32; see
        :class:`~samplevae.model.SampleVAE`); "mixed_bfloat16" halves the encoder's time on a
        CPU with AMX (and cuts it by 40 % on a Zen 4 AMD CPU).

        A damaged newer checkpoint is skipped with a warning (see :meth:`latest_checkpoint`).

        Raises
        ------
        ModelError
            Not a model directory, no checkpoint yet, no intact checkpoint (the message names
            the damaged files), or weights that do not fit the params.
        """
        from samplevae.model import build_model

        params = self.params
        model = build_model(params, n_classes=len(params.class_names), precision=precision)
        for attempt in range(3):
            ckpt = self._require_checkpoint()
            try:
                _load_weights(model, ckpt / WEIGHTS_FILE)
                state = _read_json(ckpt / STATE_FILE)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise ModelError(
                        f"{self.path}: checkpoints keep changing; cannot read the weights"
                    ) from None
        model.step = int(state.get("step", 0))
        return model

    def save_checkpoint(self, model: SampleVAE, state: dict[str, Any]) -> Path:
        """Write a complete checkpoint for ``state["step"]`` atomically; prune old ones.

        Stores the model weights, the optimizer's variables (if it has one), ``state`` and,
        last, a manifest with the size and SHA-256 of each of them.
        """
        step = int(state["step"])
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints_dir / f"step-{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:08d}-", dir=self.checkpoints_dir))
        try:
            with (
                warnings.catch_warnings()
            ):  # Keras' h5 writer trips numpy 2's __array__(copy=) notice
                warnings.simplefilter("ignore", DeprecationWarning)
                model.save_weights(tmp / WEIGHTS_FILE)
            _fsync(tmp / WEIGHTS_FILE)
            _save_optimizer(model, tmp / OPTIMIZER_FILE)
            atomic_write_json(tmp / STATE_FILE, state)
            files = {
                name: {"size": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
                for name in CHECKPOINT_FILES
            }
            atomic_write_json(tmp / MANIFEST_FILE, {"format": 1, "step": step, "files": files})
            fsync_dir(tmp)
            if final.exists():  # same step saved twice (e.g. stop right after a checkpoint)
                old = self.checkpoints_dir / f".old-{final.name}-{os.getpid()}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
            fsync_dir(self.checkpoints_dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        # what was just written is what the manifest says: no need to read it back
        self._verified[final] = (_signature(final), None, files[WEIGHTS_FILE]["sha256"])
        best = state.get("best")
        self._prune(keep=best.get("step") if isinstance(best, dict) else None)
        log.debug("checkpoint written: %s", final)
        return final

    def _prune(self, keep: int | None = None) -> None:
        """Keep the KEEP_CHECKPOINTS newest intact checkpoints, anything newer (damaged ones
        newer than those are left for the user to inspect) and the one of step ``keep`` (the
        best); remove the older ones."""
        intact = 0
        for step, p in reversed(self.checkpoints()):
            if intact >= KEEP_CHECKPOINTS and step != keep:
                shutil.rmtree(p, ignore_errors=True)
                self._verified.pop(p, None)
                continue
            try:
                if self.checkpoint_damage(p) is None:
                    intact += 1
            except FileNotFoundError:
                continue

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
        """Load the newest intact checkpoint into ``model`` (weights and, if compiled, optimizer).

        A damaged newer checkpoint is skipped with a warning (see :meth:`latest_checkpoint`).
        Returns the checkpoint's state dict ({} when there is no checkpoint).

        Raises
        ------
        ModelError
            Checkpoints exist but none is intact (the message names the damaged files), or the
            checkpoint does not fit the model.
        """
        for attempt in range(3):
            if not self.checkpoints():
                return {}
            _, ckpt = self._newest_intact_or_raise()
            try:
                _load_weights(model, ckpt / WEIGHTS_FILE)
                if getattr(model, "optimizer", None) is not None:
                    _load_optimizer(model, ckpt / OPTIMIZER_FILE)
                return _read_json(ckpt / STATE_FILE)
            except FileNotFoundError:
                if attempt == 2:
                    raise ModelError(
                        f"{self.path}: checkpoints keep changing; cannot read them"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- metrics and confusion ----------------------------------------------------------

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Records of ``metrics.jsonl`` in order (only ``kind`` "train"/"valid" if given).

        A line that is not a JSON object (a half-written record of a killed run, damage on
        disk) is skipped with a warning naming the file and line.
        """
        if not self.metrics_path.is_file():
            return []
        out = []
        with open(self.metrics_path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    rec = None
                if not isinstance(rec, dict):
                    log.warning(
                        "%s: line %d is not a JSON record (interrupted write?); skipped",
                        self.metrics_path,
                        n,
                    )
                    continue
                if kind is None or rec.get("kind") == kind:
                    out.append(rec)
        return out

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one record as a line of ``metrics.jsonl``.

        A half-written last line left by a killed run (no newline at its end) is repaired
        first, so the new record never gets glued onto it: kept (newline added) if it is a
        whole JSON record, else dropped with a warning.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, default=_json_default, allow_nan=True)
        with open(self.metrics_path, "a+b") as f:
            _repair_tail(f, self.metrics_path)
            f.write((line + "\n").encode("utf-8"))
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
        """The latest validation confusion report (see :func:`samplevae.training.confusion_report`),
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


def _repair_tail(f, path: Path) -> None:
    """Make the JSON-lines file open in ``f`` ("a+b") end with a newline: a torn last line
    (no newline) stays if it is a whole JSON object, else it is cut off with a warning."""
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return
    f.seek(end - 1)
    if f.read(1) == b"\n":
        return
    start = end
    while start > 0:  # find the start of the last line
        size = min(1 << 16, start)
        f.seek(start - size)
        chunk = f.read(size)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            start = start - size + nl + 1
            break
        start -= size
    f.seek(start)
    tail = f.read()
    try:
        whole = isinstance(json.loads(tail.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        whole = False
    if whole:
        f.write(b"\n")
    else:
        f.truncate(start)
        log.warning(
            "%s: dropped a half-written last record (%d bytes, interrupted write?)", path, len(tail)
        )
    f.flush()


def _signature(ckpt: Path) -> tuple:
    """What identifies the checkpoint's files as unchanged: inode, size and mtime of each."""
    sig = []
    for name in (*CHECKPOINT_FILES, MANIFEST_FILE):
        try:
            st = os.stat(ckpt / name)
        except FileNotFoundError:
            if name == MANIFEST_FILE:
                sig.append((name, None))
                continue
            raise
        sig.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(sig)


def _verify_checkpoint(ckpt: Path) -> tuple[str | None, str | None]:
    """``(damage reason or None, SHA-256 of the weights or None)`` of one checkpoint folder."""
    manifest_path = ckpt / MANIFEST_FILE
    if not manifest_path.is_file():
        return _check_structure(ckpt), None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        expected = {
            name: (int(files[name]["size"]), str(files[name]["sha256"]))
            for name in CHECKPOINT_FILES
        }
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return f"{manifest_path}: unreadable checksum manifest ({type(e).__name__}: {e})", None
    weights_sha = None
    for name, (size, digest) in expected.items():
        path = ckpt / name
        actual = path.stat().st_size
        if actual != size:
            how = "cut off" if actual < size else "longer than written"
            return (f"{path}: {actual} bytes, {size} were written ({how})"), None
        sha = sha256_file(path)
        if sha != digest:
            return (
                f"{path}: contents changed since it was written (SHA-256 {sha[:12]}..., "
                f"recorded {digest[:12]}...); the file is damaged"
            ), None
        if name == WEIGHTS_FILE:
            weights_sha = sha
    return None, weights_sha


def _check_structure(ckpt: Path) -> str | None:
    """Damage reason of a checkpoint written without a manifest (older versions), or None:
    every file must read back whole (flipped bytes inside an array go unnoticed here)."""
    path = ckpt / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            return f"{path}: not a JSON object"
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"{path}: unreadable ({type(e).__name__}: {e})"
    path = ckpt / OPTIMIZER_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                _ = data[key]
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        return f"{path}: unreadable, cut off or damaged ({type(e).__name__}: {e})"
    path = ckpt / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        import h5py

        def read(_name, obj):
            if isinstance(obj, h5py.Dataset):
                _ = obj[()]

        with h5py.File(path, "r") as f:
            f.visititems(read)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        return f"{path}: unreadable, cut off or damaged ({type(e).__name__}: {e})"
    return None


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
    try:
        data = np.load(path, allow_pickle=False)
    except (EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: unreadable optimizer state ({type(e).__name__}: {e})") from e
    with data:
        names = [str(n) for n in data["names"]]
        if not names:
            log.info("%s: no optimizer state stored; starting Adam from scratch", path)
            return
        if len(names) != len(opt.variables):
            raise ModelError(
                f"{path}: optimizer state has {len(names)} variables, the model's "
                f"optimizer {len(opt.variables)}; params.json and checkpoint disagree"
            )
        for i, v in enumerate(opt.variables):
            value = data[f"v{i:04d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise ModelError(
                    f"{path}: optimizer variable {names[i]} has shape {value.shape}, "
                    f"expected {tuple(v.shape)}"
                )
            v.assign(value)
