"""Training: ``train(logdir, dataset)`` — start, follow, stop and resume a model.

- A new ``logdir`` needs a dataset name; the resolved parameters (yours or the defaults,
  with the dataset's audio parameters and class names) are written to ``params.json``.
- An existing ``logdir`` resumes with nothing else: same dataset, step, learning rate and
  Adam state, from the newest complete checkpoint.
- Every ``log_every`` steps a ``"train"`` record, every ``validate_every`` steps a ``"valid"``
  record (with classes: confusion matrix, per-class precision / recall / F1, balanced
  accuracy, and each validation file with its true and predicted class) go to
  ``metrics.jsonl`` and to your callbacks.
- The learning rate follows the original's plateau rule (:class:`PlateauSchedule`); training
  stops when it reaches ``min_learning_rate``, after ``num_steps`` steps in total, after
  ``time_budget`` seconds, when ``stop_event`` is set, or on Ctrl-C — always after saving
  a checkpoint.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samplevae.errors import DatasetError, ModelError, SampleVAEError
from samplevae.modeldir import ModelDir
from samplevae.params import RunParams
from samplevae.plotting import figure_png

__all__ = [
    "train",
    "TrainResult",
    "PlateauSchedule",
    "class_weights",
    "confusion_report",
    "confusion_figure",
    "TrainingDiverged",
]

log = logging.getLogger(__name__)

#: Steps per ``"train"`` metrics record (the losses are averaged over them).
LOG_EVERY = 10
#: Examples per forward pass during validation.
VALID_BATCH = 128


class TrainingDiverged(SampleVAEError):
    """The loss became NaN or infinite; the last checkpoint is left untouched."""


# ---- learning-rate schedule ----------------------------------------------------------------

class PlateauSchedule:
    """The original's plateau rule, as a small state machine.

    After each validation loss is added: if the loss from ``patience`` validations ago is
    lower than every later one, divide the learning rate by ``factor``. Training is finished
    once the rate is at or below ``min_learning_rate``. The history is kept across
    reductions (as the original did), so a long plateau may lower the rate at consecutive
    validations.

    Parameters
    ----------
    learning_rate : float
    patience : int
        5 = compare with the loss 5 validations before the newest.
    factor : float
    min_learning_rate : float
    history : sequence of float
        Validation losses so far (restored on resume).
    """

    def __init__(self, learning_rate: float, *, patience: int = 5, factor: float = 5.0,
                 min_learning_rate: float = 1e-5, history: Sequence[float] = ()):
        self.learning_rate = float(learning_rate)
        self.patience = int(patience)
        self.factor = float(factor)
        self.min_learning_rate = float(min_learning_rate)
        self.history: list[float] = [float(v) for v in history]

    def update(self, valid_loss: float) -> bool:
        """Add a validation loss; returns True if the learning rate was lowered."""
        self.history.append(float(valid_loss))
        h = self.history
        if len(h) > self.patience and h[-self.patience - 1] < min(h[-self.patience:]):
            self.learning_rate /= self.factor
            return True
        return False

    @property
    def finished(self) -> bool:
        """The learning rate has reached ``min_learning_rate``."""
        return self.learning_rate <= self.min_learning_rate * (1 + 1e-9)

    def state(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "history": list(self.history)}


# ---- class statistics ------------------------------------------------------------------------

def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights ``n / (n_classes * count_c)``; mean weight over examples is 1.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], int class indices
    n_classes : int

    Returns
    -------
    np.ndarray [shape=(n_classes,)], float32 (0 for a class without examples)
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes, dtype=np.float64)
    nz = counts > 0
    w[nz] = counts.sum() / (nz.sum() * counts[nz])
    return w.astype(np.float32)


def confusion_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     paths: Sequence[str] | None = None, *,
                     confidence: np.ndarray | None = None) -> dict[str, Any]:
    """Confusion matrix and per-class figures of a set of predictions.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)], int class indices
    class_names : the K class names, in index order
    paths : the n files (listed with their labels, so a cell's files can be shown)
    confidence : np.ndarray [shape=(n,)], probability of the predicted class

    Returns
    -------
    dict with ``class_names``; ``counts`` [K][K] (rows = true class, columns = predicted);
    ``matrix`` [K][K] (rows normalised to sum 1; a class without examples is all 0);
    ``precision``, ``recall``, ``f1``, ``support`` (per class); ``accuracy``;
    ``balanced_accuracy`` (mean recall over classes with examples); ``files`` (list of
    ``{"path", "true", "pred", "confidence"}``, with class names).
    """
    names = list(class_names)
    k = len(names)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    diag = np.diag(counts).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = np.where(support[:, None] > 0, counts / np.maximum(support[:, None], 1), 0.0)
        recall = np.where(support > 0, diag / np.maximum(support, 1), 0.0)
        precision = np.where(predicted > 0, diag / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    report: dict[str, Any] = {
        "class_names": names,
        "counts": counts.tolist(),
        "matrix": matrix.round(6).tolist(),
        "precision": precision.round(6).tolist(),
        "recall": recall.round(6).tolist(),
        "f1": f1.round(6).tolist(),
        "support": support.tolist(),
        "accuracy": float(diag.sum() / max(len(y_true), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
    }
    if paths is not None:
        conf = np.full(len(y_true), np.nan) if confidence is None else np.asarray(confidence)
        report["files"] = [{"path": str(p), "true": names[t], "pred": names[q],
                            "confidence": round(float(c), 4)}
                           for p, t, q, c in zip(paths, y_true, y_pred, conf, strict=True)]
    return report


def confusion_figure(report: dict[str, Any], *, title: str | None = None):
    """Normalised confusion matrix as a :class:`matplotlib.figure.Figure` (no pyplot, any backend)."""
    from matplotlib.figure import Figure

    names = report["class_names"]
    matrix = np.asarray(report["matrix"], dtype=float)
    counts = np.asarray(report["counts"], dtype=int)
    k = len(names)
    size = 2.5 + 0.55 * k
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, f"{matrix[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center",
                        fontsize=7, color="white" if matrix[i, j] > 0.5 else "black")
    if title is None:
        title = f"balanced accuracy {report['balanced_accuracy']:.3f}"
        if "step" in report:
            title = f"step {report['step']}: {title}"
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _figure_png(fig) -> bytes:
    return figure_png(fig, dpi=100)


# ---- result ---------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What a :func:`train` call did.

    Attributes
    ----------
    logdir : Path
    step : int, total steps trained (over all runs)
    learning_rate : float, at the end
    stopped_reason : "plateau" | "num_steps" | "time_budget" | "stopped"
    last_valid : dict or None, the newest validation record
    steps_run : int, steps trained by this call
    seconds : float, wall time of this call
    checkpoint : Path or None, the checkpoint written last
    """

    logdir: Path
    step: int
    learning_rate: float
    stopped_reason: str
    last_valid: dict[str, Any] | None = None
    steps_run: int = 0
    seconds: float = 0.0
    checkpoint: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)


# ---- setup helpers --------------------------------------------------------------------------

def _resolve_params(md: ModelDir, dataset: str | None, workspace, run_params: RunParams | None):
    """Return (params, Dataset, Workspace, resuming, new learning rate or None); writes
    params.json."""
    from samplevae.dataset import load_dataset

    if md.path.exists() and not md.path.is_dir():
        raise ModelError(f"{md.path}: logdir exists and is not a folder")
    if md.has_params():
        params = md.params
        if dataset is not None and dataset != params.dataset:
            raise ModelError(f"{md.path} was trained on dataset {params.dataset!r}, not {dataset!r}; "
                             "use a new --logdir to train on another dataset")
        lr_override = None
        if run_params is not None:
            if run_params.model != params.model:
                raise ModelError(f"{md.path}: run_params.model differs from the model in params.json; "
                                 "the architecture of an existing model cannot change")
            if run_params.train.learning_rate != params.train.learning_rate:
                lr_override = run_params.train.learning_rate
            params = params.replace(train=run_params.train)
        ws = _as_workspace(workspace if workspace is not None else params.workspace)
        if params.dataset is None:
            raise ModelError(f"{md.params_path}: no dataset name recorded")
        ds = load_dataset(params.dataset, ws)
        if ds.audio != params.audio:
            raise ModelError(f"dataset {ds.name!r} now has different audio parameters than {md.path} "
                             "was trained with (the dataset was rebuilt); train a new model")
        if tuple(ds.class_names) != tuple(params.class_names):
            raise ModelError(f"dataset {ds.name!r} now has classes {ds.class_names}, {md.path} was "
                             f"trained with {list(params.class_names)}; train a new model")
        md.save_params(params.replace(workspace=str(ws.root)))
        return md.params, ds, ws, True, lr_override

    if dataset is None:
        raise ModelError(f"{md.path}: no model here yet (no params.json); pass a dataset name "
                         "to start training a new model")
    ws = _as_workspace(workspace)
    ds = load_dataset(dataset, ws)
    base = run_params or RunParams()
    if run_params is not None and run_params.audio != ds.audio and run_params.audio != RunParams().audio:
        log.warning("run_params.audio differs from dataset %r's audio parameters; using the dataset's "
                    "(features are computed with them)", ds.name)
    _check_classes(ds)
    params = RunParams(audio=ds.audio, model=base.model, train=base.train, dataset=ds.name,
                       workspace=str(ws.root), class_names=tuple(ds.class_names))
    md.save_params(params)
    return params, ds, ws, False, None


def _as_workspace(ws):
    from samplevae.dataset import Workspace

    return ws if isinstance(ws, Workspace) else Workspace(ws)


def _check_classes(ds) -> None:
    names = list(ds.class_names)
    if not names:
        return
    if len(names) == 1:
        raise DatasetError(f"dataset {ds.name!r} has a single class ({names[0]!r}); a classifier needs "
                           "at least two. Add class folders, or rebuild the dataset without classes")
    train_counts = ds.counts()["train"]
    empty = [c for c in names if train_counts.get(c, 0) == 0]
    if empty:
        raise DatasetError(f"dataset {ds.name!r}: class(es) {empty} have no training file; "
                           "add samples to them or remove the class folder(s) and rebuild the dataset")


def _load_data(ds, ws, params: RunParams, progress: bool):
    X, y, paths = ds.load_features("train", ws, progress=progress)
    if len(X) == 0:
        raise DatasetError(f"dataset {ds.name!r} has no training files")
    Xv, yv, pv = ds.load_features("valid", ws, progress=progress)
    if len(Xv) == 0:
        log.warning("dataset %r has no validation files; validating on the training split "
                    "(rebuild it with train_ratio < 1 for a real validation)", ds.name)
        Xv, yv, pv = X, y, paths
    if X.shape[1:] != params.audio.shape:
        raise DatasetError(f"dataset {ds.name!r}: features of shape {X.shape[1:]}, the model expects "
                           f"{params.audio.shape}")
    return X, y, paths, Xv, yv, pv


def _train_pipeline(X, y, w, batch_size: int, seed: int):
    """Infinite shuffled batches ``(x, y, w)`` from in-memory features (tf.data)."""
    import tensorflow as tf

    n = len(X)
    order = np.random.default_rng(seed).permutation(n)  # so a partial shuffle buffer is still fair
    ds = tf.data.Dataset.from_tensor_slices((X[order], y[order], w[order]))
    ds = ds.shuffle(min(n, 16384), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


class _Callbacks:
    """Fan records out to plain callables and Keras callbacks; a failing callback is logged."""

    def __init__(self, callbacks: Iterable, model):
        import keras

        self.plain: list[Callable[[dict], Any]] = []
        self.keras: list = []
        for cb in callbacks or ():
            if isinstance(cb, keras.callbacks.Callback):
                cb.set_model(model)
                self.keras.append(cb)
            elif callable(cb):
                self.plain.append(cb)
            else:
                raise TypeError(f"callback {cb!r} is neither callable nor a keras.callbacks.Callback")

    def _safe(self, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception:  # a widget's bug must not kill a long training run
            log.exception("training callback %r failed", fn)

    def begin(self, record):
        for cb in self.keras:
            self._safe(cb.on_train_begin, logs=record)

    def emit(self, record: dict):
        for cb in self.plain:
            self._safe(cb, record)
        logs = {k: v for k, v in record.items() if isinstance(v, int | float)}
        for cb in self.keras:
            if record["kind"] == "train":
                self._safe(cb.on_train_batch_end, record["step"], logs=logs)
            else:
                self._safe(cb.on_test_end, logs=logs)

    def end(self, record):
        logs = {k: v for k, v in (record or {}).items() if isinstance(v, int | float)}
        for cb in self.keras:
            self._safe(cb.on_train_end, logs=logs)


# ---- the training loop ----------------------------------------------------------------------

def train(
    logdir: str | Path,
    dataset: str | None = None,
    *,
    workspace=None,
    run_params: RunParams | None = None,
    num_steps: int | None = None,
    callbacks: Iterable = (),
    stop_event: threading.Event | None = None,
    progress: bool = True,
    time_budget: float | None = None,
    log_every: int = LOG_EVERY,
) -> TrainResult:
    """Train a model, or resume one, in the calling thread.

    Parameters
    ----------
    logdir : str or Path
        Model directory. New: created, ``dataset`` required. Existing: training resumes.
    dataset : str
        Dataset name (see :func:`samplevae.dataset.make_dataset`). For an existing logdir it
        may be omitted; a different name is an error.
    workspace : Workspace or path
        Where the dataset lives (default: the one recorded in params.json, else
        ``$SAMPLEVAE_WORKSPACE`` or ``./samplevae_workspace``).
    run_params : RunParams
        Model and training parameters for a new model (defaults otherwise). Its audio params
        and class names are replaced by the dataset's. For an existing logdir only its
        ``train`` part is used (the model must match); a changed ``learning_rate`` replaces the
        rate reached at the checkpoint, otherwise training continues at that rate.
    num_steps : int
        Stop once the total step count reaches this (default ``run_params.train.num_steps``,
        else no cap: stop on the plateau rule).
    callbacks : iterable
        Plain callables ``cb(record)`` and/or ``keras.callbacks.Callback`` instances; they get
        every metrics record (see module doc). A Keras callback may set
        ``model.stop_training = True``.
    stop_event : threading.Event
        Set it (from any thread) to stop after the current step, with a checkpoint.
    progress : bool
        Show a tqdm progress bar with the current losses.
    time_budget : float, seconds
        Stop (with a checkpoint) once this much wall time has passed in this call.
    log_every : int
        Steps per ``"train"`` record.

    Returns
    -------
    TrainResult

    Raises
    ------
    ModelError
        logdir without params.json and no dataset, dataset mismatch, changed architecture.
    DatasetError
        Unknown dataset, one-class dataset, class without training files, unreadable files.
    TrainingDiverged
        The loss became NaN/inf (the last checkpoint is intact).
    """
    with ModelDir(logdir).lock():
        return _train(logdir, dataset, workspace=workspace, run_params=run_params,
                      num_steps=num_steps, callbacks=callbacks, stop_event=stop_event,
                      progress=progress, time_budget=time_budget, log_every=log_every)


def _train(logdir, dataset, *, workspace, run_params, num_steps, callbacks, stop_event, progress,
           time_budget, log_every) -> TrainResult:
    t_start = time.monotonic()
    md = ModelDir(logdir)
    params, ds, ws, resuming, lr_override = _resolve_params(md, dataset, workspace, run_params)
    tp = params.train
    if num_steps is None:
        num_steps = tp.num_steps
    X, y, paths, Xv, yv, pv = _load_data(ds, ws, params, progress)
    n_classes = len(params.class_names)

    import keras
    import tensorflow as tf

    from samplevae.model import build_model

    removed = md.clean_partial_checkpoints()
    if removed:
        log.info("removed %d partial checkpoint(s) left by an interrupted write", len(removed))
    if not resuming or md.latest_checkpoint() is None:
        keras.utils.set_random_seed(tp.seed)
    model = build_model(params, n_classes=n_classes)
    optimizer = keras.optimizers.Adam(learning_rate=tp.learning_rate, epsilon=tp.adam_epsilon)
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)

    state = md.restore_checkpoint(model)
    step = int(state.get("step", 0))
    elapsed_before = float(state.get("elapsed", 0.0))
    plateau = PlateauSchedule(
        state.get("learning_rate", tp.learning_rate), patience=tp.plateau_patience,
        factor=tp.plateau_factor, min_learning_rate=tp.min_learning_rate,
        history=state.get("plateau_history", ()))
    if lr_override is not None and state:
        log.info("learning rate set to %.3g (was %.3g at the checkpoint)", lr_override, plateau.learning_rate)
        plateau.learning_rate = float(lr_override)
    optimizer.learning_rate = plateau.learning_rate
    if "rng" in state:
        model.set_rng_state(state["rng"])
    if resuming:
        dropped = md.truncate_metrics(step)
        log.info("resuming %s at step %d, learning rate %.3g%s", md.path, step, plateau.learning_rate,
                 f" (dropped {dropped} metrics records written after that checkpoint)" if dropped else "")
    last_valid = next(iter(reversed(md.metrics("valid"))), None)

    if n_classes and tp.class_weighting:
        cw = class_weights(y, n_classes)
        log.info("class weights: %s", dict(zip(params.class_names, np.round(cw, 3).tolist(), strict=True)))
    else:
        cw = np.ones(max(n_classes, 1), dtype=np.float32)
    w = cw[np.maximum(y, 0)].astype(np.float32)
    wv = cw[np.maximum(yv, 0)].astype(np.float32)
    batch_size = tp.batch_size
    batches = iter(_train_pipeline(X, y, w, batch_size, tp.seed + step))
    eps_valid = np.random.default_rng(tp.seed + 12345).standard_normal(
        (len(Xv), params.model.latent_dim)).astype(np.float32)

    train_fn = tf.function(model.train_step)

    @tf.function(reduce_retracing=True)
    def eval_fn(x, y_, w_, eps):
        losses = model.per_example_losses(x, y_, eps, training=False)
        total = losses["reconstruction"] + model.beta * losses["kl"] + losses["classifier"] * w_
        return total, losses

    cbs = _Callbacks(callbacks, model)
    model.stop_training = False
    steps_per_epoch = len(X) / batch_size

    def validate() -> dict[str, Any]:
        sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "classifier": 0.0}
        probs = []
        for s in range(0, len(Xv), VALID_BATCH):
            sl = slice(s, s + VALID_BATCH)
            total, losses = eval_fn(tf.constant(Xv[sl]), tf.constant(yv[sl]), tf.constant(wv[sl]),
                                    tf.constant(eps_valid[sl]))
            sums["loss"] += float(tf.reduce_sum(total))
            for k in ("reconstruction", "kl", "classifier"):
                sums[k] += float(tf.reduce_sum(losses[k]))
            if n_classes:
                probs.append(losses["class_probabilities"].numpy())
        rec = {k: v / len(Xv) for k, v in sums.items()}
        record: dict[str, Any] = {"kind": "valid", "step": step, "epoch": round(step / steps_per_epoch, 3),
                                  "time": time.time(), "learning_rate": plateau.learning_rate, **rec,
                                  "n_valid": len(Xv)}
        if n_classes:
            p = np.concatenate(probs)
            pred = p.argmax(axis=1)
            report = confusion_report(yv, pred, params.class_names, pv, confidence=p.max(axis=1))
            report["step"] = step
            record["accuracy"] = report["accuracy"]
            record["balanced_accuracy"] = report["balanced_accuracy"]
            record["confusion"] = report
        return record

    def checkpoint() -> Path:
        return md.save_checkpoint(model, {
            "step": step, "learning_rate": plateau.learning_rate,
            "plateau_history": plateau.history, "elapsed": elapsed_before + time.monotonic() - t_start,
            "dataset": params.dataset, "n_train": len(X), "n_valid": len(Xv), "time": time.time(),
            "rng": model.rng_state(),
        })

    from tqdm.auto import tqdm

    bar = tqdm(total=num_steps, initial=step, desc=f"train {md.path.name}", unit="step",
               disable=not progress, dynamic_ncols=True)
    reason = None
    last_ckpt: Path | None = None
    last_ckpt_step = md.step if md.latest_checkpoint() is not None else None
    history: list[dict[str, Any]] = []
    steps_run = 0
    window_t = time.monotonic()
    window_steps = 0

    def publish(record: dict[str, Any]) -> None:
        stored = record
        if "confusion" in record:
            stored = dict(record)
            stored["confusion"] = {k: v for k, v in record["confusion"].items() if k != "files"}
        md.append_metrics(stored)
        history.append(stored)
        cbs.emit(record)

    def validate_and_publish(scheduled: bool) -> dict[str, Any]:
        """Validate, apply the plateau rule (scheduled validations only), write the confusion
        report, publish; returns the record without the per-file list."""
        record = validate()
        record["scheduled"] = scheduled
        reduced = plateau.update(record["loss"]) if scheduled else False
        record["lr_reduced"] = reduced
        record["next_learning_rate"] = plateau.learning_rate
        if reduced:
            optimizer.learning_rate = plateau.learning_rate
            log.info("step %d: no improvement over %d validations; learning rate -> %.3g",
                     step, tp.plateau_patience, plateau.learning_rate)
        summary = {k: v for k, v in record.items() if k != "confusion"}
        if "confusion" in record:
            md.write_confusion(record["confusion"], _figure_png(confusion_figure(record["confusion"])))
            summary["confusion"] = {k: v for k, v in record["confusion"].items() if k != "files"}
        publish(record)
        return summary

    cbs.begin({"step": step, "learning_rate": plateau.learning_rate})
    try:
        if plateau.finished:
            reason = "plateau"
        while reason is None:
            if num_steps is not None and step >= num_steps:
                reason = "num_steps"
                break
            if (stop_event is not None and stop_event.is_set()) or model.stop_training:
                reason = "stopped"
                break
            if time_budget is not None and time.monotonic() - t_start >= time_budget:
                reason = "time_budget"
                break

            logs = train_fn(next(batches))
            step += 1
            steps_run += 1
            window_steps += 1
            bar.update(1)

            if step % log_every == 0 or step % tp.validate_every == 0:
                values = {k: float(v) for k, v in logs.items()}
                if not all(math.isfinite(v) for v in values.values()):
                    raise TrainingDiverged(
                        f"{md.path}: training diverged at step {step} (loss {values['loss']}); "
                        f"the checkpoint at step {last_ckpt_step} is intact. Lower the learning rate.")
                now = time.monotonic()
                record = {"kind": "train", "step": step, "epoch": round(step / steps_per_epoch, 3),
                          "time": time.time(), "learning_rate": plateau.learning_rate, **values,
                          "steps_per_sec": window_steps / max(now - window_t, 1e-9)}
                if not n_classes:
                    record.pop("accuracy")
                    record.pop("classifier")
                for t in model.metrics:
                    t.reset_state()
                window_t, window_steps = now, 0
                publish(record)
                postfix = {"loss": f"{values['loss']:.1f}", "rec": f"{values['reconstruction']:.1f}",
                           "kl": f"{values['kl']:.1f}"}
                if n_classes:
                    postfix["acc"] = f"{values['accuracy']:.2f}"
                if last_valid is not None:
                    postfix["val"] = f"{last_valid['loss']:.1f}"
                postfix["lr"] = f"{plateau.learning_rate:.0e}"
                bar.set_postfix(postfix, refresh=False)

            if step % tp.validate_every == 0:
                last_valid = validate_and_publish(scheduled=True)
                if plateau.finished:
                    reason = "plateau"
                    log.info("learning rate reached %.3g: training finished", plateau.learning_rate)

            if step % tp.checkpoint_every == 0:
                last_ckpt = checkpoint()
                last_ckpt_step = step
    except KeyboardInterrupt:
        reason = "stopped"
        log.info("interrupted at step %d; saving a checkpoint", step)
    finally:
        bar.close()
    if (reason in ("num_steps", "time_budget") and steps_run
            and (last_valid is None or last_valid["step"] != step)):
        last_valid = validate_and_publish(scheduled=False)  # figures of the model as saved
    if last_ckpt_step != step or md.latest_checkpoint() is None:
        last_ckpt = checkpoint()
    seconds = time.monotonic() - t_start
    result = TrainResult(logdir=md.path, step=step, learning_rate=plateau.learning_rate,
                         stopped_reason=reason or "stopped", last_valid=last_valid, steps_run=steps_run,
                         seconds=seconds, checkpoint=last_ckpt or md.latest_checkpoint(), history=history)
    cbs.end({"step": step, "learning_rate": plateau.learning_rate})
    log.info("training stopped (%s) at step %d after %.0f s", result.stopped_reason, step, seconds)
    return result


class _CallableModule(types.ModuleType):
    """``samplevae.train(...)`` keeps working after ``import samplevae.train`` has replaced the
    package's lazy ``train`` attribute with this module."""

    def __call__(self, *args, **kwargs) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
