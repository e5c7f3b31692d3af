"""Parameters: frozen dataclasses, validated on construction, with a JSON round trip.

Every shape in the project follows from these: frame counts, padding, layer sizes.
Nothing is read from the current directory; a model directory carries its own
``params.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from samplevae.errors import ParameterError

__all__ = [
    "AudioParams",
    "ModelParams",
    "TrainParams",
    "RunParams",
    "SegmentParams",
    "PRECISIONS",
    "POLICIES",
    "params_hash",
]

T = TypeVar("T")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ParameterError(message)


def _int(x: Any) -> bool:
    """An integer, not a bool (``True`` must not pass as 1)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x: Any) -> bool:
    """A finite real number (int or float, not bool, not NaN or inf)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _tuple(obj: Any, name: str, depth: int = 1) -> None:
    """Store a list (or nested lists) field of a frozen dataclass as tuples, so params
    stay hashable and equal to their JSON round trip."""
    value = getattr(obj, name)
    if not isinstance(value, list | tuple):
        raise ParameterError(f"{name} must be a sequence, got {value!r}")
    if depth == 2:
        if not all(isinstance(v, list | tuple) for v in value):
            raise ParameterError(f"{name} must be a sequence of pairs, got {value!r}")
        value = tuple(tuple(v) for v in value)
    object.__setattr__(obj, name, tuple(value))


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, refusing unknown keys (typos must not pass silently)."""
    if not isinstance(data, dict):
        raise ParameterError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ParameterError(f"{cls.__name__}: unknown parameter(s) {unknown}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            # JSON has no tuples: turn lists back into (nested) tuples.
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kwargs[f.name] = value
    return cls(**kwargs)


class _JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return _from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class AudioParams(_JsonMixin):
    """How audio becomes the model's input.

    Defaults are the original's: 16 kHz mono, 2.0 s clips, STFT n_fft 1024 and hop 256,
    128 mel bands, dB relative to the clip's maximum with an 80 dB floor, scaled to [0, 1].

    Attributes
    ----------
    sample_rate : int, Hz
    sample_sec : float, seconds per clip (shorter files are zero-padded, longer cropped)
    n_fft, hop_length : int, samples
    n_mels : int
    fmin, fmax : float, Hz (``fmax=None`` means ``sample_rate / 2``)
    top_db : float, dB below the clip's maximum that maps to 0
    griffin_lim_iters : int, phase-reconstruction iterations used by generation
    """

    sample_rate: int = 16000
    sample_sec: float = 2.0
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float = 80.0
    griffin_lim_iters: int = 32

    def __post_init__(self) -> None:
        _check(
            _int(self.sample_rate) and 1000 <= self.sample_rate <= 192000,
            f"sample_rate must be an integer in [1000, 192000] Hz, got {self.sample_rate!r}",
        )
        _check(
            _num(self.sample_sec) and 0.05 <= self.sample_sec <= 60,
            f"sample_sec must be in [0.05, 60] s, got {self.sample_sec!r}",
        )
        _check(
            _int(self.n_fft) and self.n_fft >= 16,
            f"n_fft must be an integer >= 16, got {self.n_fft!r}",
        )
        _check(
            _int(self.hop_length) and 1 <= self.hop_length <= self.n_fft,
            f"hop_length must be an integer in [1, n_fft], got {self.hop_length!r}",
        )
        _check(
            _int(self.n_mels) and 4 <= self.n_mels <= self.n_fft // 2 + 1,
            f"n_mels must be an integer in [4, n_fft/2 + 1], got {self.n_mels!r}",
        )
        _check(
            _num(self.fmin) and self.fmin >= 0, f"fmin must be a number >= 0 Hz, got {self.fmin!r}"
        )
        _check(
            self.fmax is None or _num(self.fmax),
            f"fmax must be None (= sample_rate/2) or a number in Hz, got {self.fmax!r}",
        )
        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        _check(
            self.fmin < fmax <= self.sample_rate / 2,
            f"need fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}",
        )
        _check(
            _num(self.top_db) and self.top_db > 0,
            f"top_db must be a number > 0 dB, got {self.top_db!r}",
        )
        _check(
            _int(self.griffin_lim_iters) and self.griffin_lim_iters >= 1,
            f"griffin_lim_iters must be an integer >= 1, got {self.griffin_lim_iters!r}",
        )
        _check(self.n_frames >= 4, f"clip too short: {self.n_frames} frames")

    @property
    def n_samples(self) -> int:
        """Samples per clip."""
        return int(round(self.sample_rate * self.sample_sec))

    @property
    def n_frames(self) -> int:
        """STFT frames per clip: ``ceil(n_samples / hop_length)`` (125 for the defaults, as the original)."""
        return -(-self.n_samples // self.hop_length)

    @property
    def shape(self) -> tuple[int, int]:
        """Feature shape ``(n_mels, n_frames)``."""
        return (self.n_mels, self.n_frames)

    @property
    def fmax_hz(self) -> float:
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)

    def key(self) -> str:
        """Short stable hash of the feature-defining parameters (cache key).

        ``griffin_lim_iters`` only affects generation, so it is left out.
        """
        d = self.to_dict()
        d.pop("griffin_lim_iters")
        return params_hash(d)


@dataclass(frozen=True)
class ModelParams(_JsonMixin):
    """IAF-VAE architecture; defaults are the original's (the loss adds a cepstral term, below).

    ``pool_sizes`` are (mel, time) max-pooling windows, applied with stride 2 and
    'valid' padding as the original did. ``classifier_units`` are the dense layers
    of the optional classifier on the hidden state.

    Decoder levers (issue 12; the defaults are the original's decoder, and its loss plus a
    cepstral term):
    ``decoder_start`` skips the first k up-sampling stages, so the dense layer writes the
    finer grid of stage k directly (0: the coarsest grid, 7 x 7 for the default input, i.e.
    ~0.29 s per time cell). ``loud_weight`` weights each bin's reconstruction term by
    ``1 + loud_weight * x`` (x the true level in [0, 1]), so the loud bins that make a hit
    count more than the silent ones (0: every bin alike, the original's summed BCE).
    ``cepstral_weight`` adds, per example, that weight times the squared error of each
    frame's cepstrum (the orthonormal DCT over the mel axis of the features, coefficients 1
    to 19: the spectral envelope's detail, which the summed BCE barely rewards) to the
    reconstruction term (0: none, the original's loss; the default 10, measured over two seeds
    on unseen real kits: FMD of reconstructions 41.5 -> 37.1 and 41.4 -> 35.9, of blends
    49.9 -> 44.6 and 52.1 -> 46.1, classification and search no worse; docs/performance.md).
    A params.json written before the field existed reads as 0.

    ``metric_weight`` / ``metric_temperature``: an NCA term on the search embedding (with
    classes); ``invariance_weight`` / ``invariance_temperature``: a view-invariance term on it
    (each clip and another augmentation of it as each other's nearest neighbours in the batch;
    no labels needed); ``timbre_weight`` / ``timbre_temperature``: a term that asks each clip's
    neighbours in the batch by the embedding to be its neighbours by MFCC statistics (no labels
    needed; samplevae.contrastive). All 0: the original's loss.

    ``dropout`` is the rate on the encoder's hidden state and (unless ``decoder_dropout`` sets
    its own; None: ``dropout``'s) the decoder's dense layer;
    ``classifier_dropout`` the classifier's layers' (None: ``dropout``'s, as the original and
    every model saved before the field; the default 0.5, measured over three seeds on unseen
    real kits: balanced accuracy 0.609 / 0.531 / 0.509 -> 0.615 / 0.543 / 0.540, search and
    generation unchanged; docs/performance.md). ``decoder_dropout`` at 0.5 (the encoder's 0.25)
    and ``dropout`` at 0.5 with the decoder's 0.25 were measured the same way and not kept: the
    classifier moves by seed, not on average, and search and generation lose a little.
    """

    conv_channels: tuple[int, ...] = (32, 64, 32, 32)
    kernel_size: int = 3
    pool_sizes: tuple[tuple[int, int], ...] = ((4, 4), (2, 2), (2, 4), (2, 2))
    pool_stride: int = 2
    hidden_units: int = 512
    dropout: float = 0.25
    classifier_dropout: float | None = 0.5
    decoder_dropout: float | None = None
    latent_dim: int = 64
    iaf_steps: int = 5
    iaf_hidden: int = 0
    iaf_context_units: int = 0
    iaf_sigma_offset: float = 1.0
    beta: float = 1.0
    classifier_units: tuple[int, ...] = (512, 16)
    classifier_weight: float = 1.0
    metric_weight: float = 0.0
    metric_temperature: float = 0.1
    invariance_weight: float = 0.0
    invariance_temperature: float = 0.1
    timbre_weight: float = 0.0
    timbre_temperature: float = 0.1
    decoder_start: int = 0
    loud_weight: float = 0.0
    cepstral_weight: float = 10.0

    def __post_init__(self) -> None:
        _tuple(self, "conv_channels")
        _tuple(self, "pool_sizes", depth=2)
        _tuple(self, "classifier_units")
        _check(len(self.conv_channels) >= 1, "conv_channels must not be empty")
        _check(
            all(_int(c) and c > 0 for c in self.conv_channels),
            f"conv_channels must be positive integers, got {self.conv_channels!r}",
        )
        _check(
            len(self.pool_sizes) == len(self.conv_channels),
            f"pool_sizes needs one (mel, time) window per conv layer: "
            f"{len(self.pool_sizes)} windows for {len(self.conv_channels)} layers",
        )
        _check(
            all(len(p) == 2 and all(_int(v) and v >= 1 for v in p) for p in self.pool_sizes),
            f"pool_sizes must be pairs of positive integers, got {self.pool_sizes!r}",
        )
        _check(
            _int(self.pool_stride) and self.pool_stride >= 1,
            f"pool_stride must be an integer >= 1, got {self.pool_stride!r}",
        )
        _check(
            _int(self.kernel_size) and self.kernel_size >= 1,
            f"kernel_size must be an integer >= 1, got {self.kernel_size!r}",
        )
        _check(
            _int(self.hidden_units) and self.hidden_units > 0,
            f"hidden_units must be a positive integer, got {self.hidden_units!r}",
        )
        _check(
            _num(self.dropout) and 0.0 <= self.dropout < 1.0,
            f"dropout must be a number in [0, 1), got {self.dropout!r}",
        )
        for part in ("classifier", "decoder"):
            own = getattr(self, f"{part}_dropout")
            _check(
                own is None or (_num(own) and 0.0 <= own < 1.0),
                f"{part}_dropout must be a number in [0, 1) or null (= dropout), got {own!r}",
            )
        _check(
            _int(self.latent_dim) and self.latent_dim >= 2,
            f"latent_dim must be an integer >= 2, got {self.latent_dim!r}",
        )
        _check(
            _int(self.iaf_steps) and self.iaf_steps >= 0,
            f"iaf_steps must be an integer >= 0, got {self.iaf_steps!r}",
        )
        _check(
            _int(self.iaf_hidden) and self.iaf_hidden >= 0,
            f"iaf_hidden must be an integer >= 0 (0 = 2 * latent_dim), got {self.iaf_hidden!r}",
        )
        _check(
            _int(self.iaf_context_units) and self.iaf_context_units >= 0,
            f"iaf_context_units must be >= 0 (0 = latent_dim), got {self.iaf_context_units!r}",
        )
        _check(
            _num(self.iaf_sigma_offset),
            f"iaf_sigma_offset must be a finite number, got {self.iaf_sigma_offset!r}",
        )
        _check(_num(self.beta) and self.beta >= 0, f"beta must be >= 0, got {self.beta!r}")
        _check(
            all(_int(u) and u > 0 for u in self.classifier_units),
            f"classifier_units must be positive integers, got {self.classifier_units!r}",
        )
        _check(
            _num(self.classifier_weight) and self.classifier_weight >= 0,
            f"classifier_weight must be >= 0, got {self.classifier_weight!r}",
        )
        for term in ("metric", "invariance", "timbre"):  # the terms on the search embedding
            weight, temperature = (
                getattr(self, f"{term}_weight"),
                getattr(self, f"{term}_temperature"),
            )
            _check(_num(weight) and weight >= 0, f"{term}_weight must be >= 0, got {weight!r}")
            _check(
                _num(temperature) and temperature > 0,
                f"{term}_temperature must be > 0, got {temperature!r}",
            )
        _check(
            _int(self.decoder_start) and 0 <= self.decoder_start < len(self.conv_channels),
            f"decoder_start must be an integer in [0, {len(self.conv_channels) - 1}] "
            f"(one less than the conv layers), got {self.decoder_start!r}",
        )
        _check(
            _num(self.loud_weight) and self.loud_weight >= 0,
            f"loud_weight must be a number >= 0, got {self.loud_weight!r}",
        )
        _check(
            _num(self.cepstral_weight) and self.cepstral_weight >= 0,
            f"cepstral_weight must be a number >= 0, got {self.cepstral_weight!r}",
        )

    def dropout_rate(self, part: str) -> float:
        """The dropout rate of ``part`` (``"classifier"`` or ``"decoder"``): its own
        ``<part>_dropout``, or ``dropout``'s where that is None."""
        own = getattr(self, f"{part}_dropout")
        return self.dropout if own is None else own

    #: Fields added after the first saved models, with the value a model directory's
    #: ``params.json`` that lacks them was trained with (whatever today's default): an old
    #: model directory keeps loading as the architecture and loss it was saved with.
    ADDED_FIELDS = {
        "decoder_start": 0,
        "loud_weight": 0.0,
        "cepstral_weight": 0.0,
        "classifier_dropout": None,
        "decoder_dropout": None,
    }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, saved: bool = False) -> ModelParams:
        """``saved``: ``data`` is a model directory's (written whole by the project), so the
        :data:`ADDED_FIELDS` it lacks predate it; otherwise (a user's partial configuration)
        what it lacks takes today's defaults."""
        if saved and isinstance(data, dict):
            data = {**cls.ADDED_FIELDS, **data}
        return _from_dict(cls, data)

    def conv_shapes(self, audio: AudioParams) -> list[tuple[int, int]]:
        """(mel, time) map size after each conv + pool layer, for ``audio``'s input shape."""
        h, w = audio.shape
        shapes = []
        for ph, pw in self.pool_sizes:
            h = (h - ph) // self.pool_stride + 1
            w = (w - pw) // self.pool_stride + 1
            if h < 1 or w < 1:
                raise ParameterError(
                    f"pooling {self.pool_sizes} shrinks the {audio.shape} input to nothing; "
                    "use fewer conv layers, smaller pool windows or longer clips"
                )
            shapes.append((h, w))
        return shapes

    def decoder_plan(
        self, audio: AudioParams
    ) -> tuple[tuple[int, int, int], list[tuple[int, tuple[int, int], int]]]:
        """The decoder's layout for ``audio``'s input: the dense layer's output grid
        ``(mel, time, channels)`` and the up-sampling stages it then runs, each
        ``(index, (mel, time) size resized to, conv channels)``; the last one is the output
        (1 channel, the input's shape). ``decoder_start`` = k leaves out the first k stages:
        the dense layer writes stage k-1's output grid itself."""
        hw = self.conv_shapes(audio)
        n = len(self.conv_channels)
        stages = [
            (k, hw[n - 2 - k], self.conv_channels[n - 2 - k]) if k < n - 1 else (k, audio.shape, 1)
            for k in range(n)
        ]
        k0 = self.decoder_start
        grid = (
            (*hw[-1], self.conv_channels[-1])
            if k0 == 0
            else (*stages[k0 - 1][1], stages[k0 - 1][2])
        )
        return grid, stages[k0:]

    def validate_for(self, audio: AudioParams) -> None:
        """Raise :class:`ParameterError` if this architecture cannot take ``audio``'s input."""
        self.conv_shapes(audio)


#: What an augmented clip's reconstruction is scored against: the augmented clip itself, or the
#: clip before augmentation (the encoder sees the changed sound, the decoder learns the clean one).
AUGMENT_TARGETS = ("augmented", "clean")

#: Learning-rate schedules: the original's plateau rule; warm-up + cosine decay over the run's
#: horizon (``num_steps`` or the time budget); "auto" = cosine when a horizon is given.
SCHEDULES = ("plateau", "cosine", "auto")

#: Keras mixed-precision policies a model trains under: "float32"; "mixed_bfloat16" (float32
#: weights, bfloat16 compute where it is safe); "mixed_float16" (the same with float16 and
#: dynamic loss scaling, for GPUs). Saved weights are float32 whatever the precision.
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
#: ``TrainParams.precision``: a policy, or "auto" = mixed_bfloat16 where the hardware computes
#: bfloat16 fast (a CPU with AMX, an AMD CPU with AVX512-BF16, a GPU of compute capability
#: >= 8.0), else float32 (see ``samplevae.training.effective_precision``). On the 2-core AMX
#: machine the default model trains 1.75x faster per step in bfloat16 with the same quality at
#: equal steps (docs/performance.md), on a 2-core Zen 4 EPYC 1.78x; on an Intel CPU with
#: AVX512-BF16 but no AMX it is 0.65x, and a tiny model is faster in float32.
PRECISIONS = ("auto", *POLICIES)


@dataclass(frozen=True)
class TrainParams(_JsonMixin):
    """Training loop settings; defaults are the original's, but ``class_weighting`` (on since
    2026-12-03: balanced accuracy on unseen real kits +0.02 to +0.07 over three seeds, search
    and generation unchanged; docs/training.md).

    ``precision`` is the Keras mixed-precision policy of training, or "auto" (see
    :data:`PRECISIONS`); it never changes the saved weights (float32). (What the tool computes
    in is its own ``precision``, see :class:`~samplevae.tool.SoundSampleTool`.)

    ``augment_target`` (with ``augment``): score the reconstruction against the augmented
    clip (``"augmented"``, the default) or the clip before augmentation (``"clean"``).

    ``ema_momentum``: keep an exponential moving average of the weights (Keras's
    ``use_ema``; ~``1 / (1 - momentum)`` steps long) and validate, checkpoint and use that;
    None (default) trains and saves the weights themselves.

    ``clip_norm``: the most a step's gradients may weigh, as their global norm (Keras's
    ``global_clipnorm``; larger ones are scaled down to it); None = no clipping, the
    original's. The loss is a sum over every bin of the features, so the norm is in its units:
    with the default features a step's gradients weigh ~10^4 in the first ten steps and
    ~400-2,000 after a hundred. At a constant learning rate of 1e-3 (the plateau rule had not
    lowered it) a default run on real drums diverged after 3,680 steps as a few steps' norms
    grew to 10^4-10^5; clipped at 5,000 (the default since 2026-12-07) it went on
    (docs/performance.md).
    """

    batch_size: int = 64
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-4
    validate_every: int = 100
    checkpoint_every: int = 500
    plateau_patience: int = 5
    plateau_factor: float = 5.0
    min_learning_rate: float = 1e-5
    num_steps: int | None = None
    class_weighting: bool = True
    seed: int = 0
    schedule: str = "plateau"
    warmup_steps: int = 100
    final_lr_ratio: float = 0.02
    augment: bool = False
    augment_target: str = "augmented"
    precision: str = "auto"
    ema_momentum: float | None = None
    clip_norm: float | None = 5000.0

    def __post_init__(self) -> None:
        _check(
            _int(self.batch_size) and self.batch_size >= 1,
            f"batch_size must be an integer >= 1, got {self.batch_size!r}",
        )
        _check(
            _num(self.learning_rate) and self.learning_rate > 0,
            f"learning_rate must be a number > 0, got {self.learning_rate!r}",
        )
        _check(
            _num(self.adam_epsilon) and self.adam_epsilon > 0,
            f"adam_epsilon must be a number > 0, got {self.adam_epsilon!r}",
        )
        _check(
            _int(self.validate_every) and self.validate_every >= 1,
            f"validate_every must be an integer >= 1, got {self.validate_every!r}",
        )
        _check(
            _int(self.checkpoint_every) and self.checkpoint_every >= 1,
            f"checkpoint_every must be an integer >= 1, got {self.checkpoint_every!r}",
        )
        _check(
            _int(self.plateau_patience) and self.plateau_patience >= 1,
            f"plateau_patience must be an integer >= 1, got {self.plateau_patience!r}",
        )
        _check(
            _num(self.plateau_factor) and self.plateau_factor > 1,
            f"plateau_factor must be a number > 1, got {self.plateau_factor!r}",
        )
        _check(
            _num(self.min_learning_rate) and 0 < self.min_learning_rate <= self.learning_rate,
            f"need 0 < min_learning_rate <= learning_rate, got {self.min_learning_rate!r}",
        )
        _check(
            self.num_steps is None or (_int(self.num_steps) and self.num_steps >= 0),
            f"num_steps must be None or an integer >= 0, got {self.num_steps!r}",
        )
        _check(
            isinstance(self.class_weighting, bool),
            f"class_weighting must be true or false, got {self.class_weighting!r}",
        )
        _check(_int(self.seed), f"seed must be an integer, got {self.seed!r}")
        _check(
            self.schedule in SCHEDULES,
            f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}",
        )
        _check(
            _int(self.warmup_steps) and self.warmup_steps >= 0,
            f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}",
        )
        _check(
            _num(self.final_lr_ratio) and 0 < self.final_lr_ratio <= 1,
            f"final_lr_ratio must be in (0, 1], got {self.final_lr_ratio!r}",
        )
        _check(
            isinstance(self.augment, bool), f"augment must be true or false, got {self.augment!r}"
        )
        _check(
            self.augment_target in AUGMENT_TARGETS,
            f"augment_target must be one of {', '.join(AUGMENT_TARGETS)}, "
            f"got {self.augment_target!r}",
        )
        _check(
            self.precision in PRECISIONS,
            f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}",
        )
        _check(
            self.ema_momentum is None
            or (_num(self.ema_momentum) and 0.0 < self.ema_momentum < 1.0),
            f"ema_momentum must be a number in (0, 1) or null (no averaging), "
            f"got {self.ema_momentum!r}",
        )
        _check(
            self.clip_norm is None or (_num(self.clip_norm) and self.clip_norm > 0),
            f"clip_norm must be a number > 0 or null (no clipping), got {self.clip_norm!r}",
        )


@dataclass(frozen=True)
class RunParams(_JsonMixin):
    """Everything a model directory's ``params.json`` holds."""

    audio: AudioParams = field(default_factory=AudioParams)
    model: ModelParams = field(default_factory=ModelParams)
    train: TrainParams = field(default_factory=TrainParams)
    dataset: str | None = None
    workspace: str | None = None
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, cls in (("audio", AudioParams), ("model", ModelParams), ("train", TrainParams)):
            _check(
                isinstance(getattr(self, name), cls),
                f"{name} must be {cls.__name__}, got {type(getattr(self, name)).__name__}",
            )
        _tuple(self, "class_names")
        _check(
            all(isinstance(c, str) for c in self.class_names),
            f"class_names must be strings, got {self.class_names!r}",
        )
        self.model.validate_for(self.audio)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, saved: bool = False) -> RunParams:
        """``saved``: the ``params.json`` of a model directory (see
        :meth:`ModelParams.from_dict`)."""
        if not isinstance(data, dict):
            raise ParameterError("params.json: expected a JSON object")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ParameterError(f"RunParams: unknown parameter(s) {unknown}")
        return cls(
            audio=AudioParams.from_dict(data.get("audio", {})),
            model=ModelParams.from_dict(data.get("model", {}), saved=saved),
            train=TrainParams.from_dict(data.get("train", {})),
            dataset=data.get("dataset"),
            workspace=data.get("workspace"),
            class_names=tuple(data.get("class_names", ())),
        )

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically."""
        from samplevae.io import atomic_write_text

        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | Path, *, saved: bool = False) -> RunParams:
        """Read a JSON file; ``saved``: it is a model directory's ``params.json`` (see
        :meth:`ModelParams.from_dict`), not a configuration a user wrote."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ParameterError(f"{path}: cannot read parameters ({e.strerror or e})") from e
        try:
            return cls.from_dict(json.loads(text), saved=saved)
        except json.JSONDecodeError as e:
            raise ParameterError(f"{path}: not valid JSON ({e})") from e


@dataclass(frozen=True)
class SegmentParams(_JsonMixin):
    """How long files are split at onsets (:func:`samplevae.segment.segment_onsets`).

    Attributes
    ----------
    min_gap : float, seconds
        Minimum time between two kept onsets (a later one closer than this is dropped).
    min_level_db : float, dB <= 0
        A segment whose peak is more than ``-min_level_db`` dB below the file's peak is dropped.
    min_rise_db : float, dB > 0
        How far a new onset must rise, in at least one frequency band, above the level just
        before it (the decaying tail of the previous hit). Raise it to split less.
    backtrack : bool
        Start segments just before the attack (else at the onset-envelope peak, aligned
        to the end of its analysis window: at or a few ms after the attack starts).
    snap_start : float, seconds
        A first onset earlier than this becomes 0.0.
    max_segments : int or None
        Keep at most this many onsets per file: the strongest ones (largest rise).
    delta, wait, pre_max, post_max, pre_avg, post_avg
        ``librosa.util.peak_pick`` sensitivity: ``delta`` is the threshold above the local
        mean of the normalised onset envelope; the others are window lengths in seconds.
    """

    min_gap: float = 0.05
    min_level_db: float = -40.0
    min_rise_db: float = 8.0
    backtrack: bool = True
    snap_start: float = 0.5
    max_segments: int | None = None
    delta: float = 0.07
    wait: float = 0.03
    pre_max: float = 0.03
    post_max: float = 0.0
    pre_avg: float = 0.1
    post_avg: float = 0.1

    def __post_init__(self) -> None:
        _check(
            _num(self.min_gap) and 0 <= self.min_gap <= 60,
            f"min_gap must be in [0, 60] s, got {self.min_gap!r}",
        )
        _check(
            _num(self.min_level_db) and -200 <= self.min_level_db <= 0,
            f"min_level_db must be in [-200, 0] dB (relative to the file's peak), "
            f"got {self.min_level_db!r}",
        )
        _check(
            _num(self.min_rise_db) and 0 < self.min_rise_db <= 60,
            f"min_rise_db must be in (0, 60] dB, got {self.min_rise_db!r}",
        )
        _check(
            isinstance(self.backtrack, bool), f"backtrack must be a bool, got {self.backtrack!r}"
        )
        _check(
            _num(self.snap_start) and 0 <= self.snap_start <= 60,
            f"snap_start must be in [0, 60] s, got {self.snap_start!r}",
        )
        _check(
            self.max_segments is None or (_int(self.max_segments) and self.max_segments >= 1),
            f"max_segments must be None or an integer >= 1, got {self.max_segments!r}",
        )
        _check(_num(self.delta) and self.delta >= 0, f"delta must be >= 0, got {self.delta!r}")
        for name in ("wait", "pre_max", "post_max", "pre_avg", "post_avg"):
            value = getattr(self, name)
            _check(_num(value) and 0 <= value <= 10, f"{name} must be in [0, 10] s, got {value!r}")


def params_hash(data: Any) -> str:
    """Stable 16-hex-digit hash of JSON-able ``data``."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(blob).hexdigest()[:16]
