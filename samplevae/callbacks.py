"""The behaviours of :func:`samplevae.training.train`, as small ``keras.callbacks.Callback`` s.

``train()`` is set-up plus ``model.fit``: one Keras *epoch* is one validation interval
(``steps_per_epoch = validate_every``), validation runs through :meth:`SampleVAE.test_step`,
and the step counter is ``model.optimizer.iterations``. Each behaviour below is one callback:

- :class:`DivergenceGuard` — a NaN / infinite loss raises :class:`TrainingDiverged`;
- :class:`StopConditions` — stop on the total step count, a time budget or a stop event;
- :class:`PlateauLR` — the original's plateau rule (:class:`PlateauSchedule`);
- :class:`ConfusionReport` — ``confusion.json`` / ``.png`` after each validation;
- :class:`MetricsRecords` — the ``"train"`` / ``"valid"`` records of ``metrics.jsonl``,
  also handed to plain callables ``cb(record)``;
- :class:`Checkpointer` — checkpoints into the model directory, with the other callbacks'
  state (plateau history, elapsed time) and the model's random generators;
- :class:`ProgressBar` — a ``tqdm.auto`` bar;
- :class:`IntervalEnd` — after a resume between two validations, ends the first epoch at
  the next multiple of ``validate_every`` (so validations stay on the same steps).

Callbacks with state have ``state() -> dict`` and ``load_state(dict)``; the checkpoint's
state dict holds their keys (flat, as ``train_state.json`` always did).
A user's own Keras callbacks (``TensorBoard``, ``EarlyStopping``, ``CSVLogger``, ...) run
after these and see the same ``logs``: Keras's own keys (``loss``, ``reconstruction``,
``kl``, ``classifier``, ``accuracy`` and their ``val_`` forms) plus ``learning_rate`` and,
with classes, ``val_balanced_accuracy``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from samplevae.errors import SampleVAEError
from samplevae.plotting import figure_png

__all__ = [
    "TrainingDiverged",
    "PlateauSchedule",
    "confusion_report",
    "confusion_figure",
    "DivergenceGuard",
    "StopConditions",
    "PlateauLR",
    "ConfusionReport",
    "MetricsRecords",
    "Checkpointer",
    "ProgressBar",
    "IntervalEnd",
    "current_step",
]

log = logging.getLogger(__name__)

#: Keys of a training / validation record taken from Keras's logs (without ``val_``).
LOSS_KEYS = ("loss", "reconstruction", "kl", "classifier", "accuracy")


class TrainingDiverged(SampleVAEError):
    """The loss became NaN or infinite; the last checkpoint is left untouched."""


def _scalar(value):
    value = getattr(value, "value", value)  # a keras.Variable -> its backend tensor
    return value.numpy() if hasattr(value, "numpy") else value


def current_step(model) -> int:
    """The total step count: the optimizer's iteration counter (restored with checkpoints)."""
    return int(_scalar(model.optimizer.iterations))


def ema_pairs(model) -> list[tuple[Any, Any]]:
    """``(weight, moving average)`` pairs of the model's optimizer where it keeps an
    exponential moving average of the weights (``use_ema``, see ``train.ema_momentum``);
    [] where it keeps none."""
    opt = getattr(model, "optimizer", None)
    opt = getattr(opt, "inner_optimizer", opt)  # under LossScaleOptimizer
    if opt is None or not getattr(opt, "use_ema", False) or not opt.built:
        return []
    return list(zip(opt._trainable_variables, opt._model_variables_moving_average, strict=True))


def swap_ema(model) -> None:
    """Swap the model's weights with their moving averages (no-op without an average).

    A checkpoint stores the averages as the model's weights (what validation, inference and
    export use) and the weights being trained in the optimizer's slots: swap before saving,
    and after restoring, to go on training."""
    for var, average in ema_pairs(model):
        value = np.array(var.numpy())
        var.assign(average)
        average.assign(value)


@contextlib.contextmanager
def averaged_weights(model):
    """The model holds the weights' moving averages inside the block (no-op without one)."""
    swap_ema(model)
    try:
        yield model
    finally:
        swap_ema(model)


class ValidateAverage(keras.callbacks.Callback):
    """Validate on the weights' moving average (``train.ema_momentum``): the model that is
    saved and used. Keras's ``SwapEMAWeights`` does the same with an arithmetic swap under
    TensorFlow (``a += b; b = a - b; a -= b``), which rounds the weights being trained at
    every validation, so that a resumed run would no longer be the run in one go; this swaps
    them exactly (:func:`swap_ema`)."""

    def on_test_begin(self, logs=None):
        swap_ema(self.model)

    def on_test_end(self, logs=None):
        swap_ema(self.model)


def _learning_rate(model) -> float:
    return float(_scalar(model.optimizer.learning_rate))


# ---- the plateau rule ----------------------------------------------------------------------


class PlateauSchedule:
    """The original's plateau rule, as a small state machine.

    After each validation loss is added: if the loss from ``patience`` validations ago is
    lower than every later one, divide the learning rate by ``factor``. Training is finished
    once the rate is at or below ``min_learning_rate``. The history is kept across
    reductions (as the original did), so a long plateau may lower the rate at consecutive
    validations. (``keras.callbacks.ReduceLROnPlateau`` is a different rule.)

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

    def __init__(
        self,
        learning_rate: float,
        *,
        patience: int = 5,
        factor: float = 5.0,
        min_learning_rate: float = 1e-5,
        history: Sequence[float] = (),
    ):
        self.learning_rate = float(learning_rate)
        self.patience = int(patience)
        self.factor = float(factor)
        self.min_learning_rate = float(min_learning_rate)
        self.history: list[float] = [float(v) for v in history]

    def update(self, valid_loss: float) -> bool:
        """Add a validation loss; returns True if the learning rate was lowered."""
        self.history.append(float(valid_loss))
        h = self.history
        if len(h) > self.patience and h[-self.patience - 1] < min(h[-self.patience :]):
            self.learning_rate /= self.factor
            return True
        return False

    @property
    def finished(self) -> bool:
        """The learning rate has reached ``min_learning_rate``."""
        return self.learning_rate <= self.min_learning_rate * (1 + 1e-9)

    def state(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "history": list(self.history)}


class PlateauLR(keras.callbacks.Callback):
    """Apply a :class:`PlateauSchedule` at each scheduled validation (a step that is a
    multiple of ``validate_every``; the extra validation of a run stopped in between does not
    count); stop training once the schedule is finished.

    Sets the optimizer's learning rate at the start of training and after a reduction, and
    adds ``learning_rate`` (the rate used in the interval just validated) to the epoch logs,
    as Keras's ``ReduceLROnPlateau`` does. Checkpoint state: ``learning_rate``,
    ``plateau_history``.
    """

    def __init__(self, schedule: PlateauSchedule, validate_every: int):
        super().__init__()
        self.schedule = schedule
        self.validate_every = int(validate_every)
        self.used = schedule.learning_rate
        self.scheduled = False
        self.reduced = False

    def on_train_begin(self, logs=None):
        self.model.optimizer.learning_rate = self.schedule.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        step = current_step(self.model)
        self.used = self.schedule.learning_rate
        self.scheduled = step % self.validate_every == 0 and "val_loss" in logs
        self.reduced = bool(self.scheduled and self.schedule.update(logs["val_loss"]))
        if self.reduced:
            self.model.optimizer.learning_rate = self.schedule.learning_rate
            log.info(
                "step %d: no improvement over %d validations; learning rate -> %.3g",
                step,
                self.schedule.patience,
                self.schedule.learning_rate,
            )
        logs["learning_rate"] = self.used
        if self.schedule.finished:
            log.info("learning rate reached %.3g: training finished", self.schedule.learning_rate)
            self.model.stop_training = True

    def record_fields(self) -> dict[str, Any]:
        """Fields of the newest validation record."""
        return {
            "learning_rate": self.used,
            "scheduled": self.scheduled,
            "lr_reduced": self.reduced,
            "next_learning_rate": self.schedule.learning_rate,
        }

    def state(self) -> dict[str, Any]:
        return {
            "learning_rate": self.schedule.learning_rate,
            "plateau_history": list(self.schedule.history),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.schedule.learning_rate = float(state.get("learning_rate", self.schedule.learning_rate))
        self.schedule.history = [float(v) for v in state.get("plateau_history", ())]

    @property
    def finished(self) -> bool:
        """The schedule has ended training (the rate reached ``min_learning_rate``)."""
        return self.schedule.finished


class CosineLR(PlateauLR):
    """Warm-up, then cosine decay to the end of the run: a schedule that converges inside a
    step count or a time budget (the plateau rule rarely fires within minutes).

    The rate rises linearly over ``warmup_steps`` to ``learning_rate``, then follows
    ``final_ratio + (1 - final_ratio) * (1 + cos(pi * f)) / 2`` times it, where ``f`` is the
    fraction of the run done: ``step / num_steps`` with a step count, else the fraction of this
    call's ``time_budget`` (counted from ``start``) spent. Validation losses are still
    recorded (``plateau_history``) but never change the rate; training ends by the step
    count or the budget, not by the schedule. Same checkpoint state as :class:`PlateauLR`.
    """

    def __init__(
        self,
        schedule: PlateauSchedule,
        validate_every: int,
        *,
        learning_rate: float,
        warmup_steps: int,
        final_ratio: float,
        num_steps: int | None = None,
        time_budget: float | None = None,
        start: float | None = None,
    ):
        super().__init__(schedule, validate_every)
        if num_steps is None and time_budget is None:
            raise ValueError("CosineLR needs num_steps or time_budget")
        self.base = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.final_ratio = float(final_ratio)
        self.num_steps = num_steps
        self.time_budget = time_budget
        self.start = time.monotonic() if start is None else start

    def fraction(self, step: int) -> float:
        """Fraction of the run done at ``step``, in [0, 1]."""
        if self.num_steps is not None:
            f = step / max(self.num_steps, 1)
        else:
            f = (time.monotonic() - self.start) / max(float(self.time_budget), 1e-9)
        return min(max(f, 0.0), 1.0)

    def rate(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        cos = 0.5 * (1.0 + math.cos(math.pi * self.fraction(step)))
        return self.base * warm * (self.final_ratio + (1.0 - self.final_ratio) * cos)

    def on_train_begin(self, logs=None):
        self.schedule.learning_rate = self.rate(current_step(self.model))
        self.model.optimizer.learning_rate = self.schedule.learning_rate

    def on_train_batch_begin(self, batch, logs=None):
        self.schedule.learning_rate = self.rate(current_step(self.model))
        self.model.optimizer.learning_rate = self.schedule.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        step = current_step(self.model)
        self.used = _learning_rate(self.model)
        self.scheduled = step % self.validate_every == 0 and "val_loss" in logs
        if self.scheduled:
            self.schedule.history.append(float(logs["val_loss"]))
        self.reduced = False
        logs["learning_rate"] = self.used

    @property
    def finished(self) -> bool:
        """Never: a cosine run ends at its step count or budget, even where its warm-up or its
        last steps run below ``min_learning_rate``."""
        return False


# ---- stopping --------------------------------------------------------------------------------


class DivergenceGuard(keras.callbacks.Callback):
    """Raise :class:`TrainingDiverged` at the first step whose losses are not finite, before
    anything of that step is recorded or saved (put it first)."""

    def __init__(self, model_dir):
        super().__init__()
        self.model_dir = model_dir

    def on_train_batch_end(self, batch, logs=None):
        values = {k: v for k, v in (logs or {}).items() if isinstance(v, float)}
        if all(math.isfinite(v) for v in values.values()):
            return
        md = self.model_dir
        intact = (
            f"the checkpoint at step {md.step} is intact"
            if md.latest_checkpoint() is not None
            else "no checkpoint had been written yet"
        )
        raise TrainingDiverged(
            f"{md.path}: training diverged at step {current_step(self.model)} "
            f"(loss {values.get('loss')}); {intact}. Lower the learning rate."
        )


class StopConditions(keras.callbacks.Callback):
    """Stop once the total step count reaches ``num_steps``, when ``stop_event`` is set, or
    once ``time_budget`` seconds have passed since ``start`` (a ``time.monotonic()``).

    :attr:`reason` says which ("num_steps", "stopped", "time_budget"; None = none of them).
    Checkpoint state: ``elapsed`` (training seconds over all runs).
    """

    def __init__(
        self,
        *,
        num_steps: int | None = None,
        time_budget: float | None = None,
        stop_event: threading.Event | None = None,
        start: float | None = None,
    ):
        super().__init__()
        self.num_steps = num_steps
        self.time_budget = time_budget
        self.stop_event = stop_event
        self.start = time.monotonic() if start is None else start
        self.elapsed_before = 0.0
        self.reason: str | None = None

    def check(self, step: int) -> str | None:
        """The reason to stop at ``step``, or None."""
        if self.num_steps is not None and step >= self.num_steps:
            return "num_steps"
        if self.stop_event is not None and self.stop_event.is_set():
            return "stopped"
        if self.time_budget is not None and time.monotonic() - self.start >= self.time_budget:
            return "time_budget"
        return None

    def on_train_batch_end(self, batch, logs=None):
        reason = self.check(current_step(self.model))
        if reason is not None:
            self.reason = reason
            self.model.stop_training = True

    def state(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed_before + time.monotonic() - self.start}

    def load_state(self, state: dict[str, Any]) -> None:
        self.elapsed_before = float(state.get("elapsed", 0.0))


class IntervalEnd(keras.callbacks.Callback):
    """End a Keras epoch at every multiple of ``every`` steps.

    Only matters for the first epoch after resuming from a step between two validations:
    Keras's epochs all have ``steps_per_epoch`` steps, so this asks Keras to stop at the
    multiple (``model.stop_training``), and its :attr:`release` takes the request back at
    the end of that epoch, so training goes on. Put this one *last* in the callback list
    (it sees any real stop asked at the same step and then leaves it alone) and
    :attr:`release` *first* (it runs before anyone reads ``stop_training`` at epoch end).
    """

    def __init__(self, every: int):
        super().__init__()
        self.every = int(every)
        self.requested = False
        self.release = _ReleaseIntervalEnd(self)

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and current_step(self.model) % self.every == 0:
            self.requested = True
            self.model.stop_training = True


class _ReleaseIntervalEnd(keras.callbacks.Callback):
    def __init__(self, owner: IntervalEnd):
        super().__init__()
        self.owner = owner

    def on_epoch_end(self, epoch, logs=None):
        if self.owner.requested:
            self.owner.requested = False
            self.model.stop_training = False


# ---- validation reports and records ----------------------------------------------------------


def confusion_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    paths: Sequence[str] | None = None,
    *,
    confidence: np.ndarray | None = None,
) -> dict[str, Any]:
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
        report["files"] = [
            {"path": str(p), "true": names[t], "pred": names[q], "confidence": round(float(c), 4)}
            for p, t, q, c in zip(paths, y_true, y_pred, conf, strict=True)
        ]
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
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.2f}\n({counts[i, j]})",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > 0.5 else "black",
                )
    if title is None:
        title = f"balanced accuracy {report['balanced_accuracy']:.3f}"
        if "step" in report:
            title = f"step {report['step']}: {title}"
    ax.set_title(title)
    fig.tight_layout()
    return fig


class ConfusionReport(keras.callbacks.Callback):
    """After each validation, classify the validation files (``model.predict_classes``),
    write ``confusion.json`` / ``confusion.png`` into the model directory and add
    ``val_balanced_accuracy`` to the epoch logs.

    Parameters
    ----------
    model_dir : ModelDir
    x, y : validation features [n, n_mels, n_frames] and class indices [n]
    paths : the n validation files
    class_names : the K class names
    """

    def __init__(
        self,
        model_dir,
        x: np.ndarray,
        y: np.ndarray,
        paths: Sequence[str],
        class_names: Sequence[str],
    ):
        super().__init__()
        self.model_dir = model_dir
        self.x, self.y, self.paths = x, y, list(paths)
        self.class_names = list(class_names)
        self.report: dict[str, Any] | None = None

    def on_epoch_end(self, epoch, logs=None):
        with averaged_weights(self.model):  # what validation scored and what is saved
            probs = self.model.predict_classes(self.x)
        report = confusion_report(
            self.y, probs.argmax(axis=1), self.class_names, self.paths, confidence=probs.max(axis=1)
        )
        report["step"] = current_step(self.model)
        self.model_dir.write_confusion(report, figure_png(confusion_figure(report), dpi=100))
        self.report = report
        if logs is not None:
            logs["val_balanced_accuracy"] = report["balanced_accuracy"]

    def record_fields(self) -> dict[str, Any]:
        """Fields of the newest validation record (the report with its per-file list)."""
        r = self.report
        if r is None:
            return {}
        return {
            "accuracy": r["accuracy"],
            "balanced_accuracy": r["balanced_accuracy"],
            "confusion": r,
        }


class MetricsRecords(keras.callbacks.Callback):
    """Turn Keras's logs into the ``"train"`` and ``"valid"`` records: append each to
    ``metrics.jsonl`` (the confusion report without its per-file list) and hand it, whole,
    to each plain callable in ``listeners`` (a failing listener is logged, not fatal).

    - ``"train"`` every ``log_every`` steps and at each validation step: the losses averaged
      over the steps since the previous record, ``steps_per_sec`` over them, the step, the
      epoch (passes over the training set), the time and the learning rate;
    - ``"valid"`` at each epoch end: the ``val_`` losses, ``n_valid``, and the fields of each
      of ``sources`` (objects with ``record_fields()``, e.g. :class:`PlateauLR`,
      :class:`ConfusionReport`; put them before this callback).

    Parameters
    ----------
    model_dir : ModelDir
    listeners : plain callables ``cb(record)``
    log_every : steps per ``"train"`` record
    validate_every : steps per validation (a ``"train"`` record is also written then)
    steps_per_pass : steps per pass over the training set (for the ``epoch`` field)
    n_valid : number of validation examples
    has_classes : without classes, records have no ``accuracy`` (and train records no
        ``classifier``)
    sources : see above
    last_valid : the newest validation record so far (on resume)
    """

    def __init__(
        self,
        model_dir,
        listeners: Iterable[Callable[[dict], Any]] = (),
        *,
        log_every: int,
        validate_every: int,
        steps_per_pass: float,
        n_valid: int,
        has_classes: bool,
        sources: Sequence = (),
        last_valid: dict | None = None,
    ):
        super().__init__()
        self.model_dir = model_dir
        self.listeners = list(listeners)
        self.log_every, self.validate_every = int(log_every), int(validate_every)
        self.steps_per_pass, self.n_valid = float(steps_per_pass), int(n_valid)
        self.has_classes = has_classes
        self.sources = list(sources)
        self.last_valid = last_valid
        self.history: list[dict[str, Any]] = []
        self._mark: tuple[int, dict[str, float]] = (0, {})
        self._window = (time.monotonic(), 0)

    def on_train_begin(self, logs=None):
        self._window = (time.monotonic(), 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._mark = (0, {})  # Keras resets the running means at each epoch

    def on_train_batch_end(self, batch, logs=None):
        t0, steps = self._window
        self._window = (t0, steps + 1)
        step = current_step(self.model)
        if step % self.log_every and step % self.validate_every:
            return
        logs = logs or {}
        k = batch + 1
        j, before = self._mark
        values = {
            name: (k * logs[name] - j * before.get(name, 0.0)) / (k - j)
            for name in LOSS_KEYS
            if name in logs
        }
        self._mark = (k, {name: logs[name] for name in LOSS_KEYS if name in logs})
        now = time.monotonic()
        record = {
            **self._base("train", step),
            **values,
            "steps_per_sec": (steps + 1) / max(now - t0, 1e-9),
        }
        if not self.has_classes:
            record.pop("accuracy", None)
            record.pop("classifier", None)
        self._window = (now, 0)
        self.publish(record)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = current_step(self.model)
        record = {
            **self._base("valid", step),
            **{name: logs[f"val_{name}"] for name in LOSS_KEYS if f"val_{name}" in logs},
            "n_valid": self.n_valid,
        }
        record.pop("accuracy", None)  # the classes' figures come from the confusion report
        for source in self.sources:
            record.update(source.record_fields())
        self.last_valid = self.publish(record)

    def _base(self, kind: str, step: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "step": step,
            "epoch": round(step / self.steps_per_pass, 3),
            "time": time.time(),
            "learning_rate": _learning_rate(self.model),
        }

    def publish(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store ``record`` and hand it to the listeners; returns the stored form."""
        stored = record
        if "confusion" in record:
            stored = dict(record)
            stored["confusion"] = {k: v for k, v in record["confusion"].items() if k != "files"}
        self.model_dir.append_metrics(stored)
        self.history.append(stored)
        for cb in self.listeners:
            try:
                cb(record)
            except Exception:  # a widget's bug must not kill a long training run
                log.exception("training callback %r failed", cb)
        return stored


# ---- checkpoints and progress ----------------------------------------------------------------


class Checkpointer(keras.callbacks.Callback):
    """Checkpoint into the model directory every ``every`` steps, at the end, and whenever a
    validation loss is the lowest so far (the best checkpoint, which is never pruned).

    A step that is also a validation step is saved at the end of that epoch, after the
    validation and the plateau rule, so the checkpoint holds their outcome. The state dict
    holds ``step``, ``time``, ``rng`` (the model's generators), ``best`` (``{"step",
    "val_loss"}`` of the best validation so far, once there is one), ``extra`` and the
    ``state()`` of each of ``sources``.

    Parameters
    ----------
    model_dir : ModelDir
    every : checkpoint interval in steps
    validate_every : validation interval in steps
    sources : objects with ``state() -> dict`` (e.g. :class:`PlateauLR`, :class:`StopConditions`)
    extra : constant entries of the state dict (dataset name, sizes)
    """

    def __init__(
        self,
        model_dir,
        every: int,
        validate_every: int,
        *,
        sources: Sequence = (),
        extra: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.model_dir = model_dir
        self.every, self.validate_every = int(every), int(validate_every)
        self.sources = list(sources)
        self.extra = dict(extra or {})
        self.last: Path | None = None
        self.saved_step = model_dir.step if model_dir.latest_checkpoint() is not None else None
        best = model_dir.train_state().get("best") if self.saved_step is not None else None
        self.best: dict[str, Any] | None = best if isinstance(best, dict) else None

    def on_train_batch_end(self, batch, logs=None):
        step = current_step(self.model)
        if step % self.every == 0 and step % self.validate_every:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        step = current_step(self.model)
        val = (logs or {}).get("val_loss")
        improved = (
            step % self.validate_every == 0
            and val is not None
            and math.isfinite(val)
            and (self.best is None or val < self.best["val_loss"])
        )
        if improved:
            self.best = {"step": step, "val_loss": float(val)}
        # Keras's fit overwrites the weights with their averages after the last epoch: save
        # the last step before that, while the weights being trained are still at hand.
        ending = bool(ema_pairs(self.model)) and (
            self.model.stop_training or epoch + 1 >= self.params.get("epochs", math.inf)
        )
        if improved or ((step % self.every == 0 or ending) and step != self.saved_step):
            self.save()

    def on_train_end(self, logs=None):
        self.finish()

    def finish(self) -> Path | None:
        """Save the current step unless it is saved already; returns the newest checkpoint."""
        if (
            self.saved_step != current_step(self.model)
            or self.model_dir.latest_checkpoint() is None
        ):
            self.save()
        return self.last or self.model_dir.latest_checkpoint()

    def save(self) -> Path:
        step = current_step(self.model)
        state = {"step": step, **self.extra, "time": time.time(), "rng": self.model.rng_state()}
        if self.best is not None:
            state["best"] = dict(self.best)
        for source in self.sources:
            state.update(source.state())
        with averaged_weights(self.model):
            self.last = self.model_dir.save_checkpoint(self.model, state)
        self.saved_step = step
        return self.last


class ProgressBar(keras.callbacks.Callback):
    """A ``tqdm.auto`` bar over the steps, with the running losses, the newest validation
    loss and the learning rate.

    Parameters
    ----------
    total : the step count to reach (None = unknown)
    initial : the step training starts from
    desc : the bar's label
    enabled : False = no bar
    val_loss : the newest validation loss so far (on resume)
    tqdm_kwargs : passed on to tqdm (e.g. ``file``)
    """

    def __init__(
        self,
        total: int | None,
        initial: int = 0,
        *,
        desc: str = "train",
        enabled: bool = True,
        val_loss: float | None = None,
        **tqdm_kwargs,
    ):
        super().__init__()
        self.total, self.initial, self.desc, self.enabled = total, initial, desc, enabled
        self.val_loss = val_loss
        self.tqdm_kwargs = tqdm_kwargs
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.close()
        self.bar = tqdm(
            total=self.total,
            initial=self.initial,
            desc=self.desc,
            unit="step",
            disable=not self.enabled,
            dynamic_ncols=True,
            **self.tqdm_kwargs,
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is None:
            return
        self.bar.update(1)
        logs = logs or {}
        postfix = {
            short: f"{logs[key]:.1f}"
            for key, short in (("loss", "loss"), ("reconstruction", "rec"), ("kl", "kl"))
            if key in logs
        }
        if "accuracy" in logs and getattr(self.model, "has_classifier", True):
            postfix["acc"] = f"{logs['accuracy']:.2f}"
        if self.val_loss is not None:
            postfix["val"] = f"{self.val_loss:.1f}"
        postfix["lr"] = f"{_learning_rate(self.model):.0e}"
        self.bar.set_postfix(postfix, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            self.val_loss = logs["val_loss"]

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
