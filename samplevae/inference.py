"""A TensorFlow-free inference engine: :class:`NumpyVAE` runs the trained model's ``encode``,
``decode`` and ``predict_classes`` in numpy, with the weights read from the checkpoint's Keras
weights file by h5py.

Importing TensorFlow alone takes 3-10 s on 2 cores, longer than a whole command-line query
should, so ``samplevae similar``, ``predict`` and ``generate`` make their tool with
``SoundSampleTool(..., model_loader=numpy_loader)`` (``SAMPLEVAE_ENGINE=keras`` keeps the Keras
model). The numbers match the Keras model within float32 rounding; ``tests/test_library.py``
checks that for encode, decode and classify, so a change to :mod:`samplevae.model`'s
architecture that this engine does not follow fails there.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import sys
from pathlib import Path

import numpy as np

from samplevae.errors import ModelError

log = logging.getLogger(__name__)

#: ``SAMPLEVAE_ENGINE=keras`` makes the command-line queries run the Keras model (TensorFlow)
#: instead of :class:`NumpyVAE`.
ENGINE_ENV = "SAMPLEVAE_ENGINE"


def numpy_loader(model_dir):
    """A ``model_loader`` for :class:`~samplevae.tool.SoundSampleTool`: a :class:`NumpyVAE` of
    ``model_dir`` (a :class:`~samplevae.modeldir.ModelDir`) that falls back on the Keras model
    for weights it cannot read and for calls on many clips; the Keras model itself when
    ``SAMPLEVAE_ENGINE=keras``."""
    if os.environ.get(ENGINE_ENV, "numpy").lower() == "keras":
        return keras_model(model_dir)
    return NumpyVAE(model_dir, keras_loader=functools.partial(keras_model, model_dir))


def keras_model(model_dir):
    """The Keras model of ``model_dir`` in the precision the tool's ``precision="auto"`` picks
    (:func:`samplevae.training.inference_precision`: bfloat16 where the CPU computes it fast)."""
    from samplevae.training import inference_precision

    return model_dir.load_model(precision=inference_precision(model_dir.params))


def _one_blas_thread():
    """BLAS on one thread while the engine runs (threadpoolctl, if installed): its products
    are small, and on 2 busy cores a second BLAS thread made them 2x slower, not faster."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _elu(x: np.ndarray) -> np.ndarray:
    # expm1(x) >= x for x <= 0, so the larger of the two is ELU: two passes, no mask
    return np.maximum(x, np.expm1(np.minimum(x, 0.0)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _add_product(acc_t: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``acc_t.T += a @ b`` in place (``acc_t`` F-ordered ``[o, m]``): BLAS's own accumulation
    (scipy's ``sgemm`` with beta = 1) once :func:`use_scipy_blas` has imported it, else a
    product and a sum. The in-place form is 1.4x faster for the encoder's main convolution."""
    blas = sys.modules.get("scipy.linalg.blas")
    if blas is not None:
        out = blas.sgemm(1.0, b.T, a.T, beta=1.0, c=acc_t, overwrite_c=True)
        if out is not acc_t:  # pragma: no cover - f2py copied (never for these layouts)
            acc_t[...] = out
    else:
        acc_t.T[...] += a @ b


def use_scipy_blas() -> None:
    """Import ``scipy.linalg.blas`` so that the convolutions accumulate inside BLAS (a library
    build's workers do; a one-file query skips the ~0.2 s import)."""
    import scipy.linalg.blas  # noqa: F401


def _conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Keras ``Conv2D(padding="same")``, stride 1: ``x`` [n, h, w, c], ``kernel`` [kh, kw, c, o]."""
    kh, kw, c, o = kernel.shape
    n, h, w, _ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    if c == 1:
        return _conv_one_channel(x, kernel, bias).transpose(0, 2, 3, 1)
    # Each clip padded (one spare row at the bottom) and flattened to rows of c channels: tap
    # (dy, dx) is then the contiguous row range from dy * wp + dx, so the convolution is
    # kh * kw products accumulated in place, with no copy of the taps; each output row's
    # wp - w extra columns are dropped at the end.
    wp, rows = w + kw - 1, h * (w + kw - 1)
    xp = np.pad(x, ((0, 0), (ph, kh - ph), (pw, kw - 1 - pw), (0, 0)))
    out = np.empty((n, h, w, o), dtype=np.float32)
    for i in range(n):
        flat = xp[i].reshape(-1, c)
        acc_t = np.empty((o, rows), dtype=np.float32, order="F")
        acc_t[...] = bias[:, None] if bias is not None else 0.0
        for dy in range(kh):
            for dx in range(kw):
                start = dy * wp + dx
                _add_product(acc_t, flat[start : start + rows], kernel[dy, dx])
        out[i] = acc_t.T.reshape(h, wp, o)[:, :w]
    return out


def _conv_one_channel(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """:func:`_conv_same` of a one-channel input, channels first: ``x`` [n, h, w, 1] ->
    [n, o, h, w]. Per clip one product ``kernel`` [o, kh * kw] @ taps [kh * kw, h * wp], each
    tap a contiguous range of the padded, flattened clip (as in :func:`_conv_same`): the
    output is written once, in the layout the pooling that follows reads fastest (the taps
    as columns of an [h * w, kh * kw] product took 4x as long: a depth of 9 suits no BLAS)."""
    kh, kw, _, o = kernel.shape
    n, h, w, _ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    wp, rows = w + kw - 1, h * (w + kw - 1)
    xp = np.pad(x[..., 0], ((0, 0), (ph, kh - ph), (pw, kw - 1 - pw))).reshape(n, -1)
    k_t = np.ascontiguousarray(kernel.reshape(kh * kw, o).T)
    starts = [dy * wp + dx for dy in range(kh) for dx in range(kw)]
    taps = np.empty((kh * kw, rows), dtype=np.float32)
    out = np.empty((n, o, h, w), dtype=np.float32)
    for i in range(n):
        for t, start in enumerate(starts):
            taps[t] = xp[i, start : start + rows]
        out[i] = (k_t @ taps).reshape(o, h, wp)[:, :, :w]
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def _block_max(x: np.ndarray, axis: int, size: int, stride: int) -> np.ndarray:
    """The maximum over windows of ``size`` at ``stride`` along ``axis`` ('valid'). A window
    that is a whole number of strides long is the maximum of that many adjacent blocks of one
    stride: one pass over ``x`` for the blocks, then ``size // stride - 1`` over the blocks
    (a 4-wide window at stride 2: 2 passes, not 4)."""
    n_out = (x.shape[axis] - size) // stride + 1

    def take(a, start, stop, step=1):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop, step)
        return a[tuple(index)]

    if size % stride:  # overlapping windows of another shape: tap by tap
        out = take(x, 0, stride * (n_out - 1) + 1, stride).copy()
        for d in range(1, size):
            np.maximum(out, take(x, d, d + stride * (n_out - 1) + 1, stride), out=out)
        return out
    per = size // stride
    n_blocks = n_out + per - 1
    blocks = take(x, 0, stride * n_blocks, stride).copy()
    for d in range(1, stride):
        np.maximum(blocks, take(x, d, d + stride * n_blocks, stride), out=blocks)
    if per == 1:
        return blocks
    out = take(blocks, 0, n_out).copy()
    for d in range(1, per):
        np.maximum(out, take(blocks, d, d + n_out), out=out)
    return out


def _max_pool(
    x: np.ndarray, size: tuple[int, int], stride: int, channels_first: bool = False
) -> np.ndarray:
    """Keras ``MaxPooling2D(padding="valid")`` of ``x`` [n, h, w, c] (or [n, c, h, w]): the
    maximum over the window's columns, then over its rows (:func:`_block_max`); channels
    first, over its rows first (whole lines of columns at a time: 1.2x faster there)."""
    if channels_first:
        return _block_max(_block_max(x, 2, size[0], stride), 3, size[1], stride)
    return _block_max(_block_max(x, 2, size[1], stride), 1, size[0], stride)


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear interpolation ``[n_out, n_in]`` with half-pixel centres (``tf.image.resize``)."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    lo = np.floor(src)
    frac = (src - lo).astype(np.float32)
    i0 = np.clip(lo, 0, n_in - 1).astype(int)
    i1 = np.clip(lo + 1, 0, n_in - 1).astype(int)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m


class NumpyVAE:
    """The inference half of :class:`samplevae.model.SampleVAE` (``encode``, ``decode``,
    ``predict_classes``) in numpy, with the weights of the model directory's newest intact
    checkpoint read from its Keras weights file by h5py.

    The same architecture and numbers as the Keras model within float32 rounding (checked by
    ``tests/test_library.py``), without TensorFlow: the command-line queries need no
    TensorFlow import, graph trace or Keras model build; the weights are read on first use,
    and a weights file without the layers this architecture needs raises
    :class:`~samplevae.errors.ModelError` then. An encoder pass costs ~4 ms per clip on one
    core of a Zen 4 EPYC, oneDNN's ~3 ms in float32 and ~1.6 ms in bfloat16: a call with more
    than :attr:`KERAS_ABOVE` clips loads the Keras model with ``keras_loader`` and runs it
    there from then on. A library build of up to :attr:`WORKERS_UP_TO` files runs this engine
    in its worker processes instead (:meth:`worker_encoder`), without TensorFlow.

    Raises
    ------
    ModelError
        The weights file does not hold the layers this architecture needs.
    """

    _ENCODE_CHUNK = 2  # clips per pass: bounds the work buffers, and 2 ran faster than 1 or 4
    KERAS_ABOVE = 64
    WORKERS_UP_TO = 4000

    def __init__(self, model_dir, keras_loader=None):
        params = model_dir.params
        self.run_params = params
        self.model_dir = model_dir
        mp, audio = params.model, params.audio
        self.input_hw = tuple(audio.shape)
        self.latent_dim = int(mp.latent_dim)
        self.n_classes = len(params.class_names)
        self.conv_hw = mp.conv_shapes(audio)
        self.dec_shape, stages = mp.decoder_plan(audio)
        self.dec_stages = [(k, size) for k, size, _ in stages]
        self.weights_path = model_dir.weights_path
        self.step = int(model_dir.step)
        self._weights: dict[str, list[np.ndarray]] | None = None
        self._keras_loader = keras_loader
        self._keras = None

    def _engine(self, n: int):
        """The Keras model when it should run a call on ``n`` clips (many clips, or weights
        this engine cannot read and a Keras loader to fall back on), else None."""
        if self._keras is None and self._keras_loader is not None:
            if n > self.KERAS_ABOVE:
                log.debug("%d clips at once: loading the Keras model", n)
                self._keras = self._keras_loader()
            else:
                try:
                    _ = self._w
                except ModelError as e:
                    log.debug("numpy engine cannot run %s (%s): loading Keras", self, e)
                    self._keras = self._keras_loader()
        return self._keras

    @property
    def has_classifier(self) -> bool:
        return self.n_classes > 0

    @property
    def _w(self) -> dict[str, list[np.ndarray]]:
        """The weights, read on first use (a query whose embedding is in the library needs
        none)."""
        if self._weights is None:
            self._weights = self._read_weights(self.weights_path)
        return self._weights

    def __repr__(self) -> str:
        return f"NumpyVAE({str(self.model_dir.path)!r})"

    def _read_weights(self, path: Path) -> dict[str, list[np.ndarray]]:
        import h5py

        mp = self.run_params.model
        found: dict[str, tuple[str, list[np.ndarray]]] = {}
        try:
            with h5py.File(path, "r") as f:

                def visit(name, obj):
                    if (
                        isinstance(obj, h5py.Group)
                        and name.endswith("vars")
                        and "name" in obj.attrs
                    ):
                        arrays = [
                            np.asarray(obj[k], dtype=np.float32) for k in sorted(obj, key=int)
                        ]
                        found[name[: -len("/vars")]] = (str(obj.attrs["name"]), arrays)

                f.visititems(visit)
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(f"{path}: cannot read the weights ({e})") from e
        weights = {}
        for group, (name, arrays) in found.items():
            parent = group.rsplit("/", 1)[0] if "/" in group else ""
            full = f"{found[parent][0]}/{name}" if parent and parent in found else name
            weights[full] = arrays
        need = {
            **{f"enc_conv{i}": 1 for i in range(len(mp.conv_channels))},
            "enc_hidden": 2,
            "mu": 2,
            "dec_dense": 2,
            **{f"dec_conv{k}": 1 for k, _ in self.dec_stages},
        }
        for k in range(mp.iaf_steps):
            need |= {
                f"iaf_context{k}": 2,
                f"iaf_step{k}/z_to_hidden": 2,
                f"iaf_step{k}/context_to_hidden": 1,
                f"iaf_step{k}/hidden_to_params": 2,
            }
        if self.n_classes:
            need |= {f"cls_dense{i}": 2 for i in range(len(mp.classifier_units))}
            need["cls_logits"] = 2
        missing = [k for k, m in need.items() if len(weights.get(k, ())) < m]
        if missing:
            raise ModelError(f"{path}: no weights for layer(s) {', '.join(missing)}")
        d = self.latent_dim
        for k in range(mp.iaf_steps):  # the MADE masks (samplevae.iaf.made_masks)
            hidden = weights[f"iaf_step{k}/z_to_hidden"][0].shape[1]
            d_in, d_hid = np.arange(1, d + 1), np.arange(hidden) % d
            d_out = np.concatenate([d_in, d_in])
            weights[f"iaf_step{k}/z_to_hidden"][0] *= d_hid[None, :] >= d_in[:, None]
            weights[f"iaf_step{k}/hidden_to_params"][0] *= d_out[None, :] > d_hid[:, None]
        return weights

    # ---- the parts ----------------------------------------------------------------------

    def _dense(self, name: str, x: np.ndarray) -> np.ndarray:
        w = self._w[name]
        out = x @ w[0]
        return out + w[1] if len(w) > 1 else out

    def _encoder(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mp = self.run_params.model
        h = x[..., None]
        for i, pool in enumerate(mp.pool_sizes):
            w = self._w[f"enc_conv{i}"]
            kernel, bias = w[0], w[1] if len(w) > 1 else None
            if h.shape[-1] == 1:  # pooled channels first, as computed: 4x less to transpose
                conv = _conv_one_channel(h, kernel, bias)
                h = _max_pool(conv, pool, mp.pool_stride, channels_first=True)
                h = _elu(np.ascontiguousarray(h.transpose(0, 2, 3, 1)))
            else:
                h = _elu(_max_pool(_conv_same(h, kernel, bias), pool, mp.pool_stride))
        conv_out = h.reshape(h.shape[0], -1)
        return conv_out, _elu(self._dense("enc_hidden", conv_out))

    def _embed(self, x: np.ndarray) -> np.ndarray:
        mp = self.run_params.model
        conv_out, hidden = self._encoder(x)
        z = self._dense("mu", hidden)
        d = self.latent_dim
        for k in range(mp.iaf_steps):
            ctx = _elu(self._dense(f"iaf_context{k}", conv_out))
            h = _elu(
                self._dense(f"iaf_step{k}/z_to_hidden", z)
                + self._dense(f"iaf_step{k}/context_to_hidden", ctx)
            )
            ms = self._dense(f"iaf_step{k}/hidden_to_params", h)
            sigma = _sigmoid(ms[:, d:] + mp.iaf_sigma_offset)
            z = (sigma * z + (1.0 - sigma) * ms[:, :d])[:, ::-1]
        return z

    def _decode(self, z: np.ndarray) -> np.ndarray:
        h = _elu(self._dense("dec_dense", z)).reshape(-1, *self.dec_shape)
        last = self.dec_stages[-1][0]
        for k, size in self.dec_stages:
            ry = _resize_matrix(h.shape[1], size[0])
            rx = _resize_matrix(h.shape[2], size[1])
            h = np.einsum("Hh,nhwc,Ww->nHWc", ry, h, rx, optimize=True)
            w = self._w[f"dec_conv{k}"]
            h = _conv_same(h, w[0], w[1] if len(w) > 1 else None)
            if k < last:
                h = _elu(h)
        return _sigmoid(h[..., 0])

    def _classify(self, x: np.ndarray) -> np.ndarray:
        h = self._encoder(x)[1]
        for i in range(len(self.run_params.model.classifier_units)):
            h = _elu(self._dense(f"cls_dense{i}", h))
        logits = self._dense("cls_logits", h)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _batched(self, fn, array: np.ndarray, one_thread: bool = True) -> np.ndarray:
        step = self._ENCODE_CHUNK
        with _one_blas_thread() if one_thread else contextlib.nullcontext():
            parts = [fn(array[i : i + step]) for i in range(0, len(array), step)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def worker_encoder(self, n_files: int):
        """For :meth:`Library.open <samplevae.library.Library.open>`: a picklable embed
        function that its worker processes run (this engine, one BLAS thread each), when a
        build of ``n_files`` files is best embedded there; else None (embed in this process).

        Up to :attr:`WORKERS_UP_TO` files the workers embed: no TensorFlow import (~5-6 s)
        and both cores busy from the start; a larger build loads the Keras model, whose
        oneDNN pass costs a third to a half of this engine's."""
        if self._keras is not None or n_files > self.WORKERS_UP_TO:
            return None
        try:
            _ = self._w  # read here once, not in every worker
        except ModelError:
            return None  # the Keras loader's business (or the error's, in this process)
        engine = copy.copy(self)
        engine._keras_loader = None
        engine._ENCODE_CHUNK = 4  # with freed memory kept: 3.9 ms a clip, 4.7 one at a time
        return _WorkerEncoder(engine)

    def _check_feats(self, feats) -> np.ndarray:
        from samplevae.errors import ParameterError

        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim != 3 or feats.shape[1:] != self.input_hw:
            raise ParameterError(
                f"features must have shape [n, {self.input_hw[0]}, {self.input_hw[1]}] "
                f"(n_mels, n_frames of this model), got {feats.shape}"
            )
        return feats

    # ---- the numpy API of SampleVAE -----------------------------------------------------

    def encode(self, feats: np.ndarray, **_) -> np.ndarray:
        """Embeddings ``[n, latent_dim]`` of features ``[n, n_mels, n_frames]``."""
        feats = self._check_feats(feats)
        if not len(feats):
            return np.zeros((0, self.latent_dim), dtype=np.float32)
        big = self._engine(len(feats))
        return big.encode(feats) if big is not None else self._batched(self._embed, feats)

    def decode(self, z: np.ndarray, **_) -> np.ndarray:
        """Spectrograms ``[n, n_mels, n_frames]`` in [0, 1] from latent points ``[n, D]``."""
        from samplevae.errors import ParameterError

        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ParameterError(f"z must have shape [n, {self.latent_dim}], got {z.shape}")
        big = self._engine(len(z))
        return big.decode(z) if big is not None else self._batched(self._decode, z)

    def predict_classes(self, feats: np.ndarray, **_) -> np.ndarray:
        """Class probabilities ``[n, n_classes]``."""
        if not self.has_classifier:
            raise ModelError(
                "this model has no classifier: it was trained on a dataset without classes"
            )
        feats = self._check_feats(feats)
        big = self._engine(len(feats))
        return (
            big.predict_classes(feats) if big is not None else self._batched(self._classify, feats)
        )


class _WorkerEncoder:
    """``NumpyVAE.encode`` in a library build's worker process: BLAS limited to one thread
    and ``scipy.linalg.blas`` imported once per process, on the first call."""

    _ready = False  # per process

    def __init__(self, engine: NumpyVAE):
        self.engine = engine

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        if not _WorkerEncoder._ready:
            try:
                from threadpoolctl import threadpool_limits

                threadpool_limits(1, user_api="blas")  # for the rest of this process
            except ImportError:  # pragma: no cover - installed with scikit-learn
                pass
            use_scipy_blas()
            _keep_freed_memory()
            _WorkerEncoder._ready = True
        engine = self.engine
        return engine._batched(engine._embed, engine._check_feats(feats), one_thread=False)


def _keep_freed_memory() -> None:
    """glibc: keep freed blocks for reuse instead of giving them back to the kernel. An
    encoder pass allocates buffers of a few MB; by default each one is a fresh mmap that
    page-faults again (~1,000 faults and 2 ms of kernel time per clip, a third of the pass).
    Elsewhere (or if that fails) nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: blocks this large come from the heap
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD: free memory kept before trimming
    except (OSError, AttributeError):  # not glibc
        pass
