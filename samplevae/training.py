"""Training: ``train(logdir, dataset)`` — start, follow, stop and resume a model.

- A new ``logdir`` needs a dataset name; the resolved parameters (yours or the defaults,
  with the dataset's audio parameters and class names) are written to ``params.json``.
- An existing ``logdir`` resumes with nothing else: same dataset, step, learning rate, Adam
  state, random generators and place in the data, from the newest complete checkpoint (a run
  of N steps equals a run of N/2 steps resumed for N/2 more).
- Every ``log_every`` steps a ``"train"`` record, every ``validate_every`` steps a ``"valid"``
  record (with classes: confusion matrix, per-class precision / recall / F1, balanced
  accuracy, and each validation file with its true and predicted class) go to
  ``metrics.jsonl`` and to your callbacks.
- The learning rate follows the original's plateau rule (:class:`PlateauSchedule`); training
  stops when it reaches ``min_learning_rate``, after ``num_steps`` steps in total, after
  ``time_budget`` seconds, when ``stop_event`` is set, or on Ctrl-C — always after saving
  a checkpoint.

Underneath it is Keras's own loop: ``model.fit`` with one epoch per validation interval and
the behaviours as callbacks (:mod:`samplevae.callbacks`), so your own Keras callbacks
(``TensorBoard``, ``EarlyStopping``, ``CSVLogger``, ...) work as Keras documents them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samplevae.callbacks import (
    Checkpointer,
    ConfusionReport,
    CosineLR,
    DivergenceGuard,
    IntervalEnd,
    MetricsRecords,
    PlateauLR,
    PlateauSchedule,
    ProgressBar,
    StopConditions,
    TrainingDiverged,
    ValidateAverage,
    confusion_figure,
    confusion_report,
    current_step,
    ema_pairs,
    swap_ema,
)
from samplevae.errors import DatasetError, ModelError, ParameterError
from samplevae.modeldir import ModelDir
from samplevae.params import RunParams

__all__ = [
    "train",
    "make_strategy",
    "STRATEGIES",
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
#: Initial dynamic loss scale under mixed_float16.
LOSS_SCALE = 16.0


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


def _resolve_params(
    md: ModelDir,
    dataset: str | None,
    workspace,
    run_params: RunParams | None,
    *,
    init: ModelDir | None = None,
    save: bool = True,
):
    """Return (params, Dataset, Workspace, resuming, new learning rate or None); writes
    params.json unless ``save`` is false (a non-chief worker only reads the model directory).
    """
    if md.path.exists() and not md.path.is_dir():
        raise ModelError(f"{md.path}: logdir exists and is not a folder")
    if init is not None:
        if md.has_params() and md.checkpoints():
            raise ModelError(
                f"{md.path}: already a model with checkpoints; --init starts a new model. "
                "Resume this one without --init, or fine-tune into a new --logdir"
            )
        if dataset is None:
            raise ModelError(f"{md.path}: fine-tuning from {init.path} needs a dataset name")
        return _new_params(md, dataset, workspace, run_params, init=init, save=save)
    if md.has_params():
        return _resume_params(md, dataset, workspace, run_params, save=save)
    if dataset is None:
        raise ModelError(
            f"{md.path}: no model here yet (no params.json); pass a dataset name "
            "to start training a new model"
        )
    return _new_params(md, dataset, workspace, run_params, save=save)


def _resume_params(
    md: ModelDir, dataset: str | None, workspace, run_params: RunParams | None, *, save: bool
):
    from samplevae.dataset import load_dataset

    params = md.params
    if dataset is not None and dataset != params.dataset:
        raise ModelError(
            f"{md.path} was trained on dataset {params.dataset!r}, not {dataset!r}; "
            "use a new --logdir to train on another dataset"
        )
    lr_override = None
    if run_params is not None:
        if run_params.model != params.model:
            raise ModelError(
                f"{md.path}: run_params.model differs from the model in params.json; "
                "the architecture of an existing model cannot change"
            )
        if run_params.train.learning_rate != params.train.learning_rate:
            lr_override = run_params.train.learning_rate
        if (run_params.train.precision == "mixed_float16") != (
            params.train.precision == "mixed_float16"
        ):
            raise ModelError(
                f"{md.path}: trained with precision {params.train.precision!r}; resuming with "
                f"{run_params.train.precision!r} is not supported (mixed_float16 keeps a loss "
                "scale in the optimizer state). float32 <-> mixed_bfloat16 is fine"
            )
        if (run_params.train.ema_momentum is None) != (params.train.ema_momentum is None):
            raise ModelError(
                f"{md.path}: trained with ema_momentum {params.train.ema_momentum!r}; resuming "
                f"with {run_params.train.ema_momentum!r} is not supported (the moving average "
                "is part of the optimizer state); its value may change, not whether it is on"
            )
        params = params.replace(train=run_params.train)
    ws = _as_workspace(workspace if workspace is not None else params.workspace)
    if params.dataset is None:
        raise ModelError(f"{md.params_path}: no dataset name recorded")
    ds = load_dataset(params.dataset, ws)
    if ds.audio != params.audio:
        raise ModelError(
            f"dataset {ds.name!r} now has different audio parameters than {md.path} "
            "was trained with (the dataset was rebuilt); train a new model"
        )
    if tuple(ds.class_names) != tuple(params.class_names):
        raise ModelError(
            f"dataset {ds.name!r} now has classes {ds.class_names}, {md.path} was "
            f"trained with {list(params.class_names)}; train a new model"
        )
    params = params.replace(workspace=str(ws.root))
    if save:
        md.save_params(params)
        params = md.params
    return params, ds, ws, True, lr_override


def _new_params(
    md: ModelDir,
    dataset: str,
    workspace,
    run_params: RunParams | None,
    *,
    init: ModelDir | None = None,
    save: bool,
):
    from samplevae.dataset import load_dataset

    ws = _as_workspace(workspace)
    ds = load_dataset(dataset, ws)
    base = run_params or RunParams()
    if init is not None:
        base = _init_base(init, ds, run_params)
    elif (
        run_params is not None
        and run_params.audio != ds.audio
        and run_params.audio != RunParams().audio
    ):
        log.warning(
            "run_params.audio differs from dataset %r's audio parameters; using the dataset's "
            "(features are computed with them)",
            ds.name,
        )
    _check_classes(ds)
    params = RunParams(
        audio=ds.audio,
        model=base.model,
        train=base.train,
        dataset=ds.name,
        workspace=str(ws.root),
        class_names=tuple(ds.class_names),
    )
    if save:
        md.save_params(params)
    return params, ds, ws, False, None


def _init_base(init: ModelDir, ds, run_params: RunParams | None) -> RunParams:
    """RunParams of a model fine-tuned from ``init`` on ``ds``: ``init``'s architecture (and
    audio parameters, which the dataset must share), the training part of ``run_params`` if
    given, else ``init``'s (without its step cap)."""
    src = init.params
    if ds.audio != src.audio:
        raise DatasetError(
            f"dataset {ds.name!r} was made with other audio parameters than the model "
            f"{init.path} ({ds.audio.to_dict()} vs {src.audio.to_dict()}); rebuild it with the "
            "model's (make-dataset --sample-rate / --sample-sec / --n-mels as in its params.json)"
        )
    if run_params is not None and run_params.model not in (src.model, RunParams().model):
        log.warning(
            "fine-tuning from %s: its architecture is used, run_params.model is ignored",
            init.path,
        )
    train = run_params.train if run_params is not None else src.train.replace(num_steps=None)
    return RunParams(audio=src.audio, model=src.model, train=train)


def _as_workspace(ws):
    from samplevae.dataset import Workspace

    return ws if isinstance(ws, Workspace) else Workspace(ws)


def _check_classes(ds) -> None:
    names = list(ds.class_names)
    if not names:
        return
    if len(names) == 1:
        raise DatasetError(
            f"dataset {ds.name!r} has a single class ({names[0]!r}); a classifier needs "
            "at least two. Add class folders, or rebuild the dataset without classes"
        )
    train_counts = ds.counts()["train"]
    empty = [c for c in names if train_counts.get(c, 0) == 0]
    if empty:
        raise DatasetError(
            f"dataset {ds.name!r}: class(es) {empty} have no training file; "
            "add samples to them or remove the class folder(s) and rebuild the dataset"
        )


def _load_data(ds, ws, params: RunParams, progress: bool):
    X, y, paths = ds.load_features("train", ws, progress=progress)
    if len(X) == 0:
        raise DatasetError(f"dataset {ds.name!r} has no training files")
    Xv, yv, pv = ds.load_features("valid", ws, progress=progress)
    if len(Xv) == 0:
        log.warning(
            "dataset %r has no validation files; validating on the training split "
            "(rebuild it with train_ratio < 1 for a real validation)",
            ds.name,
        )
        Xv, yv, pv = X, y, paths
    if X.shape[1:] != params.audio.shape:
        raise DatasetError(
            f"dataset {ds.name!r}: features of shape {X.shape[1:]}, the model expects "
            f"{params.audio.shape}"
        )
    return X, y, paths, Xv, yv, pv


# ---- data ------------------------------------------------------------------------------------


@dataclass
class _Data:
    """Features of both splits, their per-example class weights and the validation noise."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    paths: list
    xv: np.ndarray
    yv: np.ndarray
    wv: np.ndarray
    pv: list
    eps_valid: np.ndarray


def _prepare_data(ds, ws, params: RunParams, progress: bool) -> _Data:
    X, y, paths, Xv, yv, pv = _load_data(ds, ws, params, progress)
    tp, n_classes = params.train, len(params.class_names)
    if n_classes and tp.class_weighting:
        cw = class_weights(y, n_classes)
        log.info(
            "class weights: %s",
            dict(zip(params.class_names, np.round(cw, 3).tolist(), strict=True)),
        )
    else:
        cw = np.ones(max(n_classes, 1), dtype=np.float32)
    eps_valid = (
        np.random.default_rng(tp.seed + 12345)
        .standard_normal((len(Xv), params.model.latent_dim))
        .astype(np.float32)
    )
    return _Data(
        X,
        y,
        cw[np.maximum(y, 0)].astype(np.float32),
        list(paths),
        Xv,
        yv,
        cw[np.maximum(yv, 0)].astype(np.float32),
        list(pv),
        eps_valid,
    )


def _train_batches(data: _Data, batch_size: int, seed: int, start_step: int):
    """Endless batches ``{"x", "y", "w"}`` (tf.data): pass ``p`` over the training set goes in
    the order of a permutation drawn from ``(seed, p)``, and step ``s`` trains on examples
    ``s * batch_size`` ... of that stream — so a resumed run continues the same sequence."""
    import tensorflow as tf

    n = len(data.x)
    first_pass, offset = divmod(start_step * batch_size, n)
    tensors = {"x": tf.constant(data.x), "y": tf.constant(data.y), "w": tf.constant(data.w)}

    def permutation(p):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), p])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    order = tf.data.Dataset.counter(first_pass).flat_map(permutation).skip(offset)
    batches = order.batch(batch_size, drop_remainder=True)
    batches = batches.map(
        lambda i: {k: tf.gather(t, i) for k, t in tensors.items()},
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _shard_by_data(batches.prefetch(tf.data.AUTOTUNE))


def _shard_by_data(dataset):
    """Under a multi-worker strategy every worker builds the same pipeline (from the same
    arrays) and keeps its part of each global batch: tf.data's DATA auto-sharding (there are
    no files to shard by). No effect on one machine."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _valid_batches(data: _Data, replicas: int = 1):
    """The validation set in batches ``{"x", "y", "w", "eps"}``, with one fixed noise draw
    per example (validation is deterministic).

    Under a strategy every batch splits evenly over the ``replicas`` (Keras cannot build on
    unequal parts, nor run a replica on an empty one): the set is padded to a multiple of
    ``replicas`` with examples of mask ``m`` 0, which the validation means leave out."""
    import tensorflow as tf

    arrays = {"x": data.xv, "y": data.yv, "w": data.wv, "eps": data.eps_valid}
    batch = VALID_BATCH
    if replicas > 1:
        n = len(data.xv)
        pad = (-n) % replicas
        arrays = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in arrays.items()}
        arrays["m"] = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        batch = max(replicas, VALID_BATCH - VALID_BATCH % replicas)
    return _shard_by_data(tf.data.Dataset.from_tensor_slices(arrays).batch(batch))


# ---- strategies -----------------------------------------------------------------------------

#: ``strategy=`` names: all local GPUs (else CPU devices) of this machine; or several
#: machines configured by ``TF_CONFIG``.
STRATEGIES = ("mirrored", "multiworker")


def make_strategy(strategy=None):
    """The ``tf.distribute`` strategy meant by ``strategy``.

    Parameters
    ----------
    strategy : None, "mirrored", "multiworker" or a ``tf.distribute.Strategy``
        None: TensorFlow's default (one device; a GPU if there is one). "mirrored":
        ``MirroredStrategy`` over all local GPUs, or over the logical CPU devices where there is
        no GPU. "multiworker": ``MultiWorkerMirroredStrategy``, configured by the ``TF_CONFIG``
        environment variable as TensorFlow documents (create it before any other TensorFlow
        work in the process). A strategy object is returned as given.

    Returns
    -------
    tf.distribute.Strategy or None
    """
    if strategy is None:
        return None
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if strategy == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ParameterError(
                "strategy 'multiworker' needs the TF_CONFIG environment variable (the cluster "
                "and this worker's task); see docs/distributed.md"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ParameterError(
        f"strategy must be None, one of {', '.join(STRATEGIES)} or a tf.distribute.Strategy, "
        f"got {strategy!r}"
    )


def _task(strategy) -> tuple[str | None, int, bool, int]:
    """``(task type, task id, is chief, number of workers)`` of this process."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or resolver.task_type is None:
        return None, 0, True, 1
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in cluster
    )
    n_workers = sum(len(cluster.get(k, ())) for k in ("chief", "worker"))
    return task_type, task_id, chief, n_workers


# ---- fine-tuning ----------------------------------------------------------------------------


def _init_model_dir(init) -> ModelDir:
    from samplevae.pretrained import resolve_model_dir

    md = ModelDir(resolve_model_dir(init))
    if not md.exists():
        raise ModelError(f"{md.path}: cannot fine-tune from it: no params.json or no checkpoint")
    return md


def _load_init_weights(model, init: ModelDir, params: RunParams) -> dict[str, Any]:
    """Set ``model``'s weights to ``init``'s; with other class names the classifier's output
    layer (and, if ``init`` had no classifier, the whole classifier) keeps its fresh
    initialisation. Returns what the checkpoints record about it."""
    src = init.load_model()
    same_classes = tuple(init.params.class_names) == tuple(params.class_names)
    kept, fresh = 0, []
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            other = src.get_layer(layer.name)
        except ValueError:
            other = None
        shapes = [tuple(w.shape) for w in layer.weights]
        if (
            other is None
            or (layer.name == "cls_logits" and not same_classes)
            or [tuple(w.shape) for w in other.weights] != shapes
        ):
            fresh.append(layer.name)
            continue
        layer.set_weights(other.get_weights())
        kept += 1
    if same_classes:
        log.info("fine-tuning from %s (step %d): all weights loaded", init.path, src.step)
    else:
        log.info(
            "fine-tuning from %s (step %d): classes differ (%s there, %s here), so the "
            "classifier layer(s) %s start freshly initialised for the %d new classes; the "
            "encoder, flow and decoder keep the model's weights",
            init.path,
            src.step,
            list(init.params.class_names) or "none",
            list(params.class_names) or "none",
            fresh,
            len(params.class_names),
        )
    return {"init": str(init.path), "init_step": int(src.step), "init_fresh_layers": fresh}


# ---- the run ---------------------------------------------------------------------------------


def _split_callbacks(callbacks: Iterable) -> tuple[list, list]:
    """(plain callables, Keras callbacks); anything else is a TypeError."""
    import keras

    plain, native = [], []
    for cb in callbacks or ():
        if isinstance(cb, keras.callbacks.Callback):
            native.append(cb)
        elif callable(cb):
            plain.append(cb)
        else:
            raise TypeError(f"callback {cb!r} is neither callable nor a keras.callbacks.Callback")
    return plain, native


#: CPU flags (/proc/cpuinfo) of bfloat16 arithmetic fast enough to pay: AMX's on any CPU, and
#: AVX512-BF16 on AMD's (Zen 4 and later). AVX512-BF16 on Intel's without AMX does not: on a
#: 2-core Xeon with it, the default model's step took 1.06 s in mixed_bfloat16 against 0.69 s
#: in float32, and embedding 1.4x longer (2026-12-01); on a 2-core AMD EPYC (family 25, model
#: 17) with it, 0.50 s against 0.89 s (2026-12-02, docs/performance.md).
BF16_CPU_FLAGS = ("amx_bf16",)
#: ``vendor_id`` -> further flags of fast bfloat16 on that vendor's CPUs.
BF16_VENDOR_FLAGS = {"AuthenticAMD": ("avx512_bf16",)}


def effective_precision(precision: str) -> str:
    """The Keras policy a run trains under: ``precision`` itself, or for "auto"
    "mixed_bfloat16" where the hardware computes bfloat16 fast (every visible GPU of
    compute capability >= 8.0; without GPUs, a CPU with AMX-BF16, or an AMD CPU with
    AVX512-BF16: :data:`BF16_CPU_FLAGS`, :data:`BF16_VENDOR_FLAGS`),
    else "float32" (elsewhere bfloat16 is emulated or converted, and slower)."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        caps = [
            tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus
        ]
        native = all(c is not None and tuple(c) >= (8, 0) for c in caps)
    else:
        native = _cpu_has_bf16()
    return "mixed_bfloat16" if native else "float32"


def inference_precision(params, precision: str = "auto") -> str:
    """The Keras policy a trained model (its :class:`~samplevae.params.RunParams`) computes in
    for inference: :func:`effective_precision`, except that "auto" stays float32 for a model
    trained in float32 (a tiny config runs faster so)."""
    if precision == "auto" and params.train.precision == "float32":
        return "float32"
    return effective_precision(precision)


def _cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no way to tell, so the safe choice
        return False
    flags, vendors = set(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
        elif key.strip() == "vendor_id":
            vendors.add(value.strip())
    fast = set(BF16_CPU_FLAGS)
    for vendor in vendors:
        fast.update(BF16_VENDOR_FLAGS.get(vendor, ()))
    return bool(fast & flags)


def _build_model(md: ModelDir, params: RunParams, resuming: bool, *, writer: bool = True):
    """The model (at ``train.precision``), compiled with Adam (wrapped in Keras's
    LossScaleOptimizer under mixed_float16), with the newest checkpoint (if any) restored;
    returns ``(model, checkpoint state dict)``. Call it inside a strategy's scope to train
    under that strategy. ``writer=False``: leave the model directory untouched."""
    import keras

    from samplevae.model import build_model

    if writer:
        removed = md.clean_partial_checkpoints()
        if removed:
            log.info("removed %d partial checkpoint(s) left by an interrupted write", len(removed))
    tp = params.train
    if not resuming or md.latest_checkpoint() is None:
        keras.utils.set_random_seed(tp.seed)
    precision = effective_precision(tp.precision)
    log.info("training precision: %s%s", precision, " (auto)" if tp.precision == "auto" else "")
    model = build_model(params, n_classes=len(params.class_names), precision=precision)
    ema = tp.ema_momentum is not None
    optimizer = keras.optimizers.Adam(
        learning_rate=tp.learning_rate,
        epsilon=tp.adam_epsilon,
        use_ema=ema,
        ema_momentum=tp.ema_momentum if ema else 0.99,
        global_clipnorm=tp.clip_norm,
    )
    if precision == "mixed_float16":
        # The loss is a sum over every bin (~1e3-1e4 nats), so its float16 gradients overflow
        # long before small ones underflow: start the dynamic scale low (Keras's default 2^15
        # skips the first ~10 steps halving it) and let it grow.
        optimizer = keras.optimizers.LossScaleOptimizer(
            optimizer, initial_scale=LOSS_SCALE, dynamic_growth_steps=500
        )
    model.compile(optimizer=optimizer, jit_compile=False)
    optimizer.build(model.trainable_variables)
    state = md.restore_checkpoint(model)
    if ema_pairs(model):
        if state and current_step(model) == int(state.get("step", -1)):
            swap_ema(model)  # the checkpoint's weights are the averages (Checkpointer.save)
        else:  # nothing restored into the averages: start them at the weights
            for var, average in ema_pairs(model):
                average.assign(var)
    if "rng" in state:
        model.set_rng_state(state["rng"])
    return model, state


@dataclass
class _Callbacks:
    """Our callbacks of one run, in the order Keras calls them (see :meth:`keras_list`)."""

    release: Any
    guard: DivergenceGuard
    stop: StopConditions
    progress: ProgressBar
    plateau: PlateauLR
    confusion: ConfusionReport | None
    records: MetricsRecords
    checkpoint: Checkpointer
    interval_end: IntervalEnd
    ema: ValidateAverage | None = None

    def keras_list(self, user: list) -> list:
        ours = [
            self.release,
            self.guard,
            self.stop,
            self.progress,
            self.plateau,
            self.confusion,
            self.records,
            self.checkpoint,
            self.ema,
        ]
        return [cb for cb in ours if cb is not None] + user + [self.interval_end]


def _plateau(
    params: RunParams,
    state: dict,
    lr_override: float | None,
    *,
    num_steps: int | None = None,
    time_budget: float | None = None,
    start: float | None = None,
) -> PlateauLR:
    """The learning-rate schedule at the checkpoint's rate and history (or ``lr_override``):
    the plateau rule, or warm-up + cosine over the run's horizon (``TrainParams.schedule``)."""
    tp = params.train
    schedule = PlateauSchedule(
        tp.learning_rate,
        patience=tp.plateau_patience,
        factor=tp.plateau_factor,
        min_learning_rate=tp.min_learning_rate,
    )
    has_horizon = num_steps is not None or time_budget is not None
    if tp.schedule == "cosine" and not has_horizon:
        log.warning("schedule 'cosine' needs num_steps or a time budget; using the plateau rule")
    if tp.schedule in ("cosine", "auto") and has_horizon:
        plateau = CosineLR(
            schedule,
            tp.validate_every,
            learning_rate=lr_override if lr_override is not None else tp.learning_rate,
            warmup_steps=tp.warmup_steps,
            final_ratio=tp.final_lr_ratio,
            num_steps=num_steps,
            time_budget=time_budget,
            start=start,
        )
        plateau.load_state(state)
        return plateau
    plateau = PlateauLR(schedule, tp.validate_every)
    plateau.load_state(state)
    if lr_override is not None and state:
        log.info(
            "learning rate set to %.3g (was %.3g at the checkpoint)",
            lr_override,
            schedule.learning_rate,
        )
        schedule.learning_rate = float(lr_override)
    return plateau


def _make_callbacks(
    md: ModelDir,
    params: RunParams,
    data: _Data,
    state: dict,
    *,
    plain: list,
    num_steps,
    time_budget,
    stop_event,
    start: float,
    progress: bool,
    log_every: int,
    lr_override: float | None,
    extra: dict | None = None,
) -> _Callbacks:
    tp = params.train
    step = int(state.get("step", 0))
    plateau = _plateau(
        params, state, lr_override, num_steps=num_steps, time_budget=time_budget, start=start
    )
    stop = StopConditions(
        num_steps=num_steps, time_budget=time_budget, stop_event=stop_event, start=start
    )
    stop.load_state(state)
    confusion = (
        ConfusionReport(md, data.xv, data.yv, data.pv, params.class_names)
        if params.class_names
        else None
    )
    last_valid = next(iter(reversed(md.metrics("valid"))), None)
    records = MetricsRecords(
        md,
        plain,
        log_every=log_every,
        validate_every=tp.validate_every,
        steps_per_pass=len(data.x) / tp.batch_size,
        n_valid=len(data.xv),
        has_classes=bool(params.class_names),
        sources=[s for s in (plateau, confusion) if s is not None],
        last_valid=last_valid,
    )
    checkpoint = Checkpointer(
        md,
        tp.checkpoint_every,
        tp.validate_every,
        sources=[plateau, stop],
        extra={
            "dataset": params.dataset,
            "n_train": len(data.x),
            "n_valid": len(data.xv),
            **(extra or {}),
        },
    )
    bar = ProgressBar(
        num_steps,
        step,
        desc=f"train {md.path.name}",
        enabled=progress,
        val_loss=last_valid["loss"] if last_valid else None,
    )
    interval_end = IntervalEnd(tp.validate_every)
    return _Callbacks(
        interval_end.release,
        DivergenceGuard(md),
        stop,
        bar,
        plateau,
        confusion,
        records,
        checkpoint,
        interval_end,
        ValidateAverage() if tp.ema_momentum is not None else None,
    )


def _fit(model, params: RunParams, data: _Data, cbs: _Callbacks, user: list, num_steps) -> None:
    """``model.fit`` from the current step: one epoch per validation interval."""
    tp = params.train
    step = current_step(model)
    every = tp.validate_every
    epochs = math.ceil(num_steps / every) if num_steps is not None else sys.maxsize
    model.fit(
        _train_batches(data, tp.batch_size, tp.seed, step),
        epochs=epochs,
        initial_epoch=step // every,
        steps_per_epoch=every,
        validation_data=_valid_batches(data, model.distribute_strategy.num_replicas_in_sync),
        callbacks=cbs.keras_list(user),
        shuffle=False,
        verbose=0,
    )


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
    strategy=None,
    init: str | Path | None = None,
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
        Plain callables ``cb(record)``, which get every metrics record (see module doc;
        a failing one is logged), and/or ``keras.callbacks.Callback`` instances, which
        ``model.fit`` calls as Keras documents (one epoch = one validation interval; the
        epoch logs hold the ``val_`` losses). A Keras callback may set
        ``model.stop_training = True`` (e.g. ``EarlyStopping``): training stops with a
        checkpoint, reason ``"stopped"``.
    stop_event : threading.Event
        Set it (from any thread) to stop after the current step, with a checkpoint.
    progress : bool
        Show a tqdm progress bar with the current losses.
    time_budget : float, seconds
        Stop (with a checkpoint) once this much wall time has passed in this call.
    log_every : int
        Steps per ``"train"`` record.
    strategy : None, "mirrored", "multiworker" or a ``tf.distribute.Strategy``
        Train on several devices or machines (see :func:`make_strategy`). The batch size is
        the global batch, split over the replicas. Under "multiworker" every worker runs this
        same call with the same ``logdir`` path; only the chief writes there (checkpoints,
        metrics, params.json), the others write to a temporary folder that is removed at the
        end. All workers must stop at the same step: use ``num_steps`` or the plateau rule
        (``time_budget`` is refused with several workers).
    init : model directory or shipped model name
        Fine-tune: start a new model in ``logdir`` on ``dataset`` from this model's weights
        and architecture (resolved by :func:`samplevae.pretrained.resolve_model_dir`). The
        step counter and Adam start from 0. With other class names than the model's, the
        classifier's output layer starts freshly initialised (logged). The dataset must have
        the model's audio parameters.

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
    start = time.monotonic()
    plain, user = _split_callbacks(callbacks)
    strat = make_strategy(strategy)  # first: a multi-worker strategy must precede other TF work
    task_type, task_id, chief, n_workers = _task(strat)
    if n_workers > 1 and time_budget is not None:
        raise ParameterError(
            "time_budget cannot be used with several workers (each would stop at another "
            "step); give num_steps, or let the plateau rule stop the run"
        )
    md = ModelDir(logdir)
    init_md = _init_model_dir(init) if init is not None else None
    # a non-chief worker reads the model directory and writes into a temporary one
    scratch = None if chief else Path(tempfile.mkdtemp(prefix=f"samplevae-{task_type}{task_id}-"))
    out = md if chief else ModelDir(scratch)
    try:
        with out.lock():
            return _train_locked(
                md,
                out,
                strat,
                dataset=dataset,
                workspace=workspace,
                run_params=run_params,
                init_md=init_md,
                num_steps=num_steps,
                plain=plain,
                user=user,
                stop_event=stop_event,
                progress=progress and chief,
                time_budget=time_budget,
                log_every=log_every,
                start=start,
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train_locked(
    md: ModelDir,
    out: ModelDir,
    strat,
    *,
    dataset,
    workspace,
    run_params,
    init_md,
    num_steps,
    plain,
    user,
    stop_event,
    progress,
    time_budget,
    log_every,
    start,
) -> TrainResult:
    """:func:`train` with ``out`` locked: ``md`` is read, ``out`` (``md`` itself on the chief)
    is written."""
    chief = out is md
    params, ds, ws, resuming, lr_override = _resolve_params(
        md, dataset, workspace, run_params, init=init_md, save=chief
    )
    if not chief:
        out.save_params(params)
    if num_steps is None:
        num_steps = params.train.num_steps
    data = _prepare_data(ds, ws, params, progress)
    if strat is not None:
        log.info(
            "training with %s on %d replica(s)", type(strat).__name__, strat.num_replicas_in_sync
        )
        if params.train.batch_size % strat.num_replicas_in_sync:
            raise ParameterError(
                f"batch_size {params.train.batch_size} does not split evenly over "
                f"{strat.num_replicas_in_sync} replicas"
            )
    with strat.scope() if strat is not None else contextlib.nullcontext():
        model, state = _build_model(md, params, resuming, writer=chief)
    extra = {}
    if init_md is not None:
        extra = _load_init_weights(model, init_md, params)
    step = int(state.get("step", 0))
    if current_step(model) != step:  # a checkpoint saved without optimizer state
        model.optimizer.iterations.assign(step)
    if resuming and chief:
        dropped = md.truncate_metrics(step)
        log.info(
            "resuming %s at step %d%s",
            md.path,
            step,
            f" (dropped {dropped} metrics records written after that checkpoint)"
            if dropped
            else "",
        )
    cbs = _make_callbacks(
        out,
        params,
        data,
        state,
        plain=plain,
        num_steps=num_steps,
        time_budget=time_budget,
        stop_event=stop_event,
        start=start,
        progress=progress,
        log_every=log_every,
        lr_override=lr_override,
        extra=extra,
    )
    return _run(md, model, params, data, cbs, user, num_steps, start)


def _run(
    md: ModelDir,
    model,
    params: RunParams,
    data: _Data,
    cbs: _Callbacks,
    user: list,
    num_steps,
    start: float,
) -> TrainResult:
    """Fit until a stop, then checkpoint (also after Ctrl-C) and sum up."""
    for cb in cbs.keras_list([]):
        cb.set_model(model)
    first = current_step(model)
    reason = "plateau" if cbs.plateau.finished else cbs.stop.check(first)
    try:
        if reason is None:
            _fit(model, params, data, cbs, user, num_steps)
    except KeyboardInterrupt:
        log.info("interrupted at step %d; saving a checkpoint", current_step(model))
        reason = "stopped"
    finally:
        cbs.progress.close()
    if reason is None:
        reason = "plateau" if cbs.plateau.finished else (cbs.stop.reason or "stopped")
    checkpoint = cbs.checkpoint.finish()
    step = current_step(model)
    result = TrainResult(
        logdir=md.path,
        step=step,
        learning_rate=cbs.plateau.schedule.learning_rate,
        stopped_reason=reason,
        last_valid=cbs.records.last_valid,
        steps_run=step - first,
        seconds=time.monotonic() - start,
        checkpoint=checkpoint,
        history=cbs.records.history,
    )
    log.info("training stopped (%s) at step %d after %.0f s", reason, step, result.seconds)
    return result
