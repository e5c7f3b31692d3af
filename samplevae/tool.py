"""``SoundSampleTool``: generate, find similar samples and classify with a trained model.

The original's API, without its limits: any number of tools per process, targets given as
paths, audio arrays or embeddings, a cached and incrementally updated library, and a fast
nearest-neighbour index::

    tool = SoundSampleTool("model_NI", library_dir="/Users/MySampleLibrary")
    tool.generate(out_file="generated.wav", audio_files=[kick, snare], weights=[1, 2])
    tool.generate(out_file="snare.wav", cls="snare", seed=3)   # a random snare
    similar_files, onsets, distances = tool.find_similar(target_file, num_similar=10)
    probabilities, predicted_class = tool.predict(target_file)
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from samplevae.audio import fit_length, load_audio, write_wav
from samplevae.errors import DatasetError, ModelError, ParameterError, SampleVAEError
from samplevae.features import (
    GENERATION_TEXTURE_DB,
    audio_from_features,
    features,
    mfcc_stats_of_features,
)
from samplevae.library import JOINT_SHARE, SEARCH_SPACES
from samplevae.oneshot import trim_one_shot
from samplevae.sampler import SAMPLER_FILE, LatentSampler, SamplerFileError
from samplevae.segment import SegmentParams

__all__ = ["SoundSampleTool", "SimilarResult", "Target"]

log = logging.getLogger(__name__)

#: What the tool accepts as a sample: a path, an audio signal ``[n_samples]`` at the model's
#: sample rate, a feature matrix ``[n_mels, n_frames]``, or an embedding ``[latent_dim]``.
Target = str | Path | np.ndarray

PRIORS = ("fitted", "normal")
#: A decoded spectrogram whose loudest bin is below this (within 20 dB of the floor, for the
#: default 80 dB range) holds no sound: the one-shot of it is silence.
SILENT_FEATURE = 0.25


class _SimilarFields(NamedTuple):
    files: list[str]
    onsets: list[float]
    distances: list[float]


class SimilarResult(_SimilarFields):
    """Nearest library entries, nearest first. Unpacks as ``files, onsets, distances``;
    ``ids`` are the library entry ids."""

    def __new__(cls, files, onsets, distances, ids=()):
        self = super().__new__(cls, files, onsets, distances)
        self.ids = list(ids)
        return self

    def __repr__(self) -> str:
        return (
            f"SimilarResult(files={self.files!r}, onsets={self.onsets!r}, "
            f"distances={self.distances!r}, ids={self.ids!r})"
        )


def _with_kept_norm(z: np.ndarray, emb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``z`` (the weighted sum of the rows of ``emb``) rescaled so its norm is the mean of the
    rows' norms weighted by ``|w|``; a sum at the origin (nothing to rescale) stays there."""
    norm = float(np.linalg.norm(z))
    a = np.abs(np.asarray(w, dtype=np.float64))
    if norm <= 1e-12 or a.sum() <= 0:
        return z
    target = float(a @ np.linalg.norm(np.asarray(emb, dtype=np.float64), axis=1)) / a.sum()
    return z * (target / norm)


def _seed_of(z: np.ndarray) -> int:
    """A seed of Griffin-Lim's phase and the texture from the point itself: the same point
    sounds the same each time, two points get their own randomness."""
    digest = hashlib.blake2b(np.asarray(z, dtype=np.float32).tobytes(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


class SoundSampleTool:
    """A trained model, optionally with a sample library, ready to generate, search and classify.

    Parameters
    ----------
    logdir : path of a model directory written by ``samplevae train``, or the name of a shipped
        model (``"drums"``, ``"general"``: :mod:`samplevae.pretrained`)
    library_dir : folder (or list of folders) of samples to search in; optional
    library_segmentation : split files longer than the clip at onsets, each segment an entry
    segment_params : tuning of the segmentation (:class:`~samplevae.segment.SegmentParams`)
    progress : show progress bars while building the library
    workers : processes for library feature extraction (default: every core)
    exact_threshold : libraries with fewer entries are searched exactly, larger ones
        with an approximate index (recall@10 >= 0.95)
    model_loader : ``model_loader(model_dir)`` gives the model to run (default
        :meth:`ModelDir.load_model <samplevae.modeldir.ModelDir.load_model>`, the Keras model);
        the command line passes :func:`samplevae.inference.numpy_loader`, which needs no
        TensorFlow
    checkpoint : ``"best"`` (default): the weights of the lowest validation loss the run
        reached (its newest checkpoint when it recorded none); ``"last"``: the newest
        checkpoint's (see :meth:`ModelDir.best_checkpoint
        <samplevae.modeldir.ModelDir.best_checkpoint>`)
    precision : what the Keras model computes in: ``"auto"`` (default) = bfloat16 where the
        hardware computes it fast (as training's ``precision="auto"``: a CPU with AMX, an AMD
        CPU with AVX512-BF16, a recent GPU), else float32, and float32 for a model whose own
        ``train.precision`` is "float32" (a tiny model runs faster so); or a policy of
        :data:`~samplevae.params.POLICIES`. Weights stay float32. bfloat16 embeds twice as fast
        on the 2-core AMX machine, its embeddings within ~0.2 % of float32's, the same
        neighbours but for ~2 in 100 (docs/performance.md). With a ``model_loader`` it is the
        loader's (the command line's numpy engine computes in float32). ``tool.precision``
        says which is in use.
    """

    def __init__(
        self,
        logdir: str | Path,
        library_dir: str | Path | Sequence[str | Path] | None = None,
        library_segmentation: bool = False,
        *,
        segment_params: SegmentParams | None = None,
        progress: bool = True,
        workers: int | None = None,
        exact_threshold: int = 20000,
        model_loader: Callable[[Any], Any] | None = None,
        checkpoint: str = "best",
        precision: str = "auto",
    ):
        from samplevae.modeldir import ModelDir
        from samplevae.params import PRECISIONS
        from samplevae.pretrained import resolve_model_dir, user_cache_dir

        if precision not in PRECISIONS:
            raise ParameterError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        self.model_dir = ModelDir(resolve_model_dir(logdir), checkpoint=checkpoint)
        self.params = self.model_dir.params
        self.audio_params = self.params.audio
        if model_loader is not None:
            self.model = model_loader(self.model_dir)
            self.precision = getattr(self.model, "precision", "float32")
        else:
            from samplevae.training import inference_precision

            self.precision = inference_precision(self.params, precision)
            self.model = self.model_dir.load_model(precision=self.precision)
        self.progress = progress
        self.workers = workers
        self.exact_threshold = exact_threshold
        self.library = None
        self._sampler: LatentSampler | None = None
        # The weights just loaded (a sampler fitted by this tool is labelled with them).
        self._fingerprint: str | None = self.model_dir.weights_fingerprint()
        # Caches (libraries, a refitted sampler): the model directory, or for a shipped or
        # read-only model a per-user folder (samplevae.pretrained.user_cache_dir).
        self.cache_dir: Path = user_cache_dir(self.model_dir.path, self._fingerprint)
        if library_dir is not None:
            seg = (segment_params or SegmentParams()) if library_segmentation else None
            self.load_library(library_dir, segmentation=seg)

    def __repr__(self) -> str:
        lib = f", library={len(self.library)} entries" if self.library is not None else ""
        return f"SoundSampleTool({str(self.model_dir.path)!r}{lib})"

    # --- properties ------------------------------------------------------------------------

    @property
    def class_names(self) -> list[str]:
        """Class names in the order of :meth:`predict`'s probabilities (empty without classifier)."""
        return list(self.params.class_names)

    @property
    def latent_dim(self) -> int:
        return self.params.model.latent_dim

    # --- library ---------------------------------------------------------------------------

    def load_library(self, library_dir, *, segmentation: SegmentParams | None = None):
        """Build or update (from the cache in the model directory) the sample library."""
        from samplevae.library import Library

        self.library = Library.open(
            library_dir,
            embed=self.model.encode,
            audio=self.audio_params,
            weights_fingerprint=self.model_dir.weights_fingerprint(),
            cache_dir=self.cache_dir / "libraries",
            segmentation=segmentation,
            workers=self.workers,
            progress=self.progress,
            exact_threshold=self.exact_threshold,
            worker_embed=getattr(self.model, "worker_encoder", None),
        )
        return self.library

    def _require_library(self):
        if self.library is None:
            raise ModelError(
                "this tool has no sample library: pass library_dir= when creating it "
                "or call load_library(folder)"
            )
        return self.library

    # --- conversions -----------------------------------------------------------------------

    def features_of(self, target: Target, offset: float = 0.0) -> np.ndarray:
        """Features ``[n_mels, n_frames]`` of a path, an audio signal or a feature matrix."""
        if isinstance(target, str | Path):
            return features(load_audio(target, self.audio_params, offset=offset), self.audio_params)
        arr = np.asarray(target, dtype=np.float32)
        if arr.shape == self.audio_params.shape:
            return arr
        if arr.ndim == 1 and arr.shape[0] != self.latent_dim:
            start = int(round(offset * self.audio_params.sample_rate))
            return features(fit_length(arr[start:], self.audio_params.n_samples), self.audio_params)
        raise ParameterError(
            f"cannot take features of an array of shape {arr.shape}: expected audio [n_samples] "
            f"at {self.audio_params.sample_rate} Hz or features {self.audio_params.shape}"
        )

    def embed(
        self,
        targets: Target | Sequence[Target],
        offsets: float | Sequence[float] = 0.0,
        *,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Embeddings of one or many samples.

        Parameters
        ----------
        targets : a path, audio array, feature matrix or embedding, or a list of them
        offsets : seconds into each file (one value for all, or one per target)

        Returns
        -------
        np.ndarray [shape=(n, latent_dim)] (``(latent_dim,)`` for a single target)
        """
        single = isinstance(targets, str | Path) or (
            isinstance(targets, np.ndarray)
            and targets.ndim in (1, 2)
            and (targets.ndim == 1 or targets.shape == self.audio_params.shape)
        )
        items = [targets] if single else list(targets)
        offs = [offsets] * len(items) if np.isscalar(offsets) else list(offsets)
        if len(offs) != len(items):
            raise ParameterError(f"{len(offs)} offsets for {len(items)} targets")
        out = np.zeros((len(items), self.latent_dim), dtype=np.float32)
        feat_idx, feats = [], []
        for i, (t, o) in enumerate(zip(items, offs, strict=True)):
            if self._is_embedding(t):
                out[i] = np.asarray(t, dtype=np.float32)
            else:
                feat_idx.append(i)
                feats.append(self.features_of(t, o))
        for start in range(0, len(feats), batch_size):
            batch = np.stack(feats[start : start + batch_size])
            out[feat_idx[start : start + batch_size]] = self.model.encode(batch)
        return out[0] if single else out

    def decode(
        self,
        z: np.ndarray,
        *,
        n_iter: int | None = None,
        seed: int | None = 0,
        trim: bool = False,
        texture_db: float = GENERATION_TEXTURE_DB,
    ) -> np.ndarray:
        """Audio from an embedding ``[latent_dim]`` (decoder + Griffin-Lim).

        ``trim=False``: the whole clip, ``[n_samples]``. ``trim=True``: a one-shot that ends
        where the sound has decayed (:func:`samplevae.oneshot.trim_one_shot`); a decode with
        no sound in it (the spectrogram at its floor everywhere) gives a short silent clip
        and a warning. ``texture_db``: the bin-to-bin fluctuation given back to the decoder's
        smooth spectrogram before Griffin-Lim (see
        :func:`samplevae.features.audio_from_features`; 0 = none, the original's).
        """
        z = np.asarray(z, dtype=np.float32).reshape(1, self.latent_dim)
        spec = self.model.decode(z)[0]
        if trim and float(spec.max()) < SILENT_FEATURE:
            warnings.warn(
                "the decoded sound is silent (its spectrogram is at the floor "
                "everywhere): returning a short silent clip",
                stacklevel=2,
            )
            return trim_one_shot(np.zeros(1, dtype=np.float32), self.audio_params.sample_rate)
        audio = audio_from_features(
            spec, self.audio_params, n_iter=n_iter, seed=seed, texture_db=texture_db
        )
        return trim_one_shot(audio, self.audio_params.sample_rate) if trim else audio

    # --- latent sampler --------------------------------------------------------------------

    @property
    def sampler_path(self) -> Path:
        """Where the fitted latent sampler lives: ``<model dir>/sampler.npz``; for a shipped or
        read-only model ``<cache_dir>/sampler.npz``, first copied there from the model's own."""
        path = self.cache_dir / SAMPLER_FILE
        if self.cache_dir == self.model_dir.path or path.exists():
            return path
        shipped = self.model_dir.path / SAMPLER_FILE
        if shipped.is_file():
            from samplevae.io import atomic_write_bytes

            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, shipped.read_bytes())
            except OSError as e:
                log.warning("cannot copy %s to %s (%s); reading it in place", shipped, path, e)
                return shipped
        return path

    def _weights_fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.model_dir.weights_fingerprint()
        return self._fingerprint

    def sampler(self) -> LatentSampler:
        """The latent sampler ``generate()`` draws random points from (``prior="fitted"``).

        Read from ``sampler.npz`` in the model directory if it was fitted for these weights;
        otherwise fitted now (and saved): on the files it was fitted on before, if it was
        fitted on files (:meth:`fit_sampler`), else on the training split of the dataset the
        model was trained on (features from the workspace's feature cache). A damaged file is
        refitted with a warning.

        Raises
        ------
        ModelError
            There is nothing to fit it on: the model names no dataset, or the dataset is gone
            (the message says how to fit it on files instead).
        """
        fp = self._weights_fingerprint()
        if self._sampler is not None and self._sampler.fingerprint == fp:
            return self._sampler
        old = None
        if self.sampler_path.exists():
            try:
                old = LatentSampler.load(self.sampler_path)
            except SamplerFileError as e:
                warnings.warn(f"{e}; refitting it", stacklevel=2)
        if old is not None and old.fingerprint == fp and old.dim == self.latent_dim:
            self._sampler = old
            return old
        if old is not None and old.source == "files" and old.files:
            log.info(
                "%s was fitted for other weights: refitting it on its %d files",
                self.sampler_path,
                len(old.files),
            )
            try:
                return self.fit_sampler(old.files, old.labels or None)
            except SampleVAEError as e:
                raise ModelError(
                    f"{self.sampler_path} was fitted for other weights and cannot "
                    f"be refitted on its files ({e}); call fit_sampler(files=...) "
                    "or generate(prior='normal')"
                ) from e
        return self.fit_sampler()

    def fit_sampler(
        self,
        files: Sequence[Target] | None = None,
        labels: Sequence[str | None] | None = None,
        *,
        seed: int = 0,
        save: bool = True,
    ) -> LatentSampler:
        """Fit (and save to :attr:`sampler_path`) the latent sampler of random generation.

        Parameters
        ----------
        files : the sounds to draw near: paths, audio arrays, feature matrices or embeddings.
            None: the training split of the model's dataset (named in params.json).
        labels : each file's class (one of :attr:`class_names`, or None), for
            ``generate(cls=...)``. Default: the dataset's labels; for files, the model's
            predicted classes when it has a classifier (embeddings given as such get none).
        seed : seed of the mixture fit
        save : write ``sampler.npz`` (atomically)

        Returns
        -------
        LatentSampler
        """
        fp = self._weights_fingerprint()
        if files is None:
            emb, labs, source = self._dataset_embeddings()
            paths: list[str] = []
        else:
            items = [files] if isinstance(files, str | Path) else list(files)
            if not items:
                raise ParameterError("fit_sampler() got no files")
            emb = self.embed(items)
            emb = emb[None] if emb.ndim == 1 else emb
            labs = self._labels_for(items, labels)
            source = "files"
            paths = [str(t) for t in items] if all(isinstance(t, str | Path) for t in items) else []
        sampler = LatentSampler.fit(
            emb,
            labs,
            class_names=self.class_names,
            fingerprint=fp,
            source=source,
            files=paths,
            seed=seed,
        )
        if save:
            try:
                sampler.save(self.sampler_path)
            except OSError as e:  # a read-only model directory: keep it for this session
                warnings.warn(
                    f"cannot save the latent sampler to {self.sampler_path} ({e}); "
                    "it is used for this session only",
                    stacklevel=2,
                )
        self._sampler = sampler
        return sampler

    def _labels_for(self, items: list, labels: Sequence[str | None] | None) -> list[str | None]:
        if labels is not None:
            labs = list(labels)
            if len(labs) != len(items):
                raise ParameterError(f"{len(labs)} labels for {len(items)} files")
            return labs
        if not self.model.has_classifier:
            return [None] * len(items)
        out: list[str | None] = [None] * len(items)
        idx = [
            i
            for i, t in enumerate(items)
            if not (
                isinstance(t, np.ndarray | list | tuple)
                and np.asarray(t).shape == (self.latent_dim,)
            )
        ]
        if idx:
            feats = np.stack([self.features_of(items[i]) for i in idx])
            pred = np.argmax(self.model.predict_classes(feats), axis=1)
            for i, k in zip(idx, pred, strict=True):
                out[i] = self.class_names[int(k)]
        return out

    def _dataset_embeddings(self) -> tuple[np.ndarray, list[str | None], str]:
        from samplevae.dataset import load_dataset

        p, where = self.params, self.model_dir.path
        hint = (
            "call tool.fit_sampler(files=[...]) with the sounds to draw near, or "
            "generate(prior='normal')"
        )
        if not p.dataset:
            raise ModelError(
                f"{where} has no latent sampler and its params.json names no "
                f"training dataset to fit one on: {hint}"
            )
        try:
            ds = load_dataset(p.dataset, p.workspace)
            if ds.audio != self.audio_params:
                raise DatasetError(
                    f"dataset {ds.name!r} now has other audio parameters than "
                    "the model (it was rebuilt)"
                )
            entries = ds.split("train")
            X, y, _ = ds.load_features("train", progress=self.progress, workers=self.workers)
        except DatasetError as e:
            raise ModelError(
                f"cannot fit the latent sampler of {where} on its training dataset: {e}; {hint}"
            ) from e
        keep = [i for i, e in enumerate(entries) if not e.silent]
        if not keep:
            raise ModelError(
                f"cannot fit the latent sampler of {where}: dataset {ds.name!r} "
                f"has no (non-silent) training file; {hint}"
            )
        log.info("fitting the latent sampler of %s on %d training files", where, len(keep))
        emb = self.model.encode(X[keep])
        labs = [ds.class_names[int(y[i])] if y[i] >= 0 else None for i in keep]
        if list(ds.class_names) != self.class_names:
            labs = [None] * len(keep)
        return emb, labs, f"dataset:{ds.name}"

    # --- generation ------------------------------------------------------------------------

    def blend(
        self,
        audio_files: Sequence[Target] = (),
        weights: Sequence[float] = (),
        normalize_weights: bool = True,
        variance: float = 0.0,
        seed: int | None = None,
        *,
        prior: str = "fitted",
        cls: str | None = None,
        keep_norm: bool | None = None,
    ) -> np.ndarray:
        """The latent point :meth:`generate` decodes: ``[latent_dim]`` float32.

        No files: a random point, from the latent sampler fitted to the training sounds
        (``prior="fitted"``, :meth:`sampler`; of class ``cls`` if given) or from N(0, I)
        (``prior="normal"``, the original's). Files: the weighted sum of their embeddings,
        weights normalised to sum 1 unless ``normalize_weights=False``; a weight count that
        does not match the files gives equal weights; weights summing to 0 with normalisation
        give equal weights and a warning. ``variance`` adds Gaussian noise of that standard
        deviation to every dimension.

        ``keep_norm`` (default: ``normalize_weights``): the blend keeps the direction of the
        weighted sum and takes as its distance from the origin (the prior's centre) the
        weighted mean of the inputs' distances (weights by absolute value). A plain weighted
        sum of unrelated points lies nearer the centre than any of them (a 1:1 blend of two:
        ~0.75 of their norm on real kits), where the decoder gives a generic, averaged sound;
        on real drum kits the kept norm brings 1:1 blends nearer real sounds
        (docs/performance.md).
        ``keep_norm=False`` gives the plain weighted sum, the original's; so does
        ``normalize_weights=False`` unless ``keep_norm=True`` (latent arithmetic such as
        ``a - b + c`` stays arithmetic).
        """
        if prior not in PRIORS:
            raise ParameterError(f"prior must be one of {PRIORS}, got {prior!r}")
        rng = np.random.default_rng(seed)
        files = list(audio_files) if not isinstance(audio_files, str | Path) else [audio_files]
        if cls is not None:
            self._check_class(cls)
            if files:
                raise ParameterError(
                    "cls= chooses the class of a random sound: it cannot be "
                    "combined with audio_files"
                )
            if prior != "fitted":
                raise ParameterError("cls= needs prior='fitted' (N(0, I) has no classes)")
        if not files:
            if prior == "normal":
                z = rng.standard_normal(self.latent_dim).astype(np.float32)
            else:
                z = self.sampler().sample(cls=cls, seed=rng)
        else:
            emb = self.embed(files)
            w = np.asarray(list(weights), dtype=np.float64)
            if w.shape != (len(files),):
                if len(w):
                    log.warning(
                        "got %d weights for %d files: using equal weights", len(w), len(files)
                    )
                w = np.ones(len(files))
            if normalize_weights:
                total = w.sum()
                if np.isclose(total, 0.0):
                    warnings.warn(
                        "weights sum to 0 and cannot be normalised: using equal weights",
                        stacklevel=3,
                    )
                    w = np.ones(len(files)) / len(files)
                else:
                    w = w / total
            z = (w[:, None] * emb).sum(axis=0)
            if normalize_weights if keep_norm is None else keep_norm:
                z = _with_kept_norm(z, emb, w)
            z = z.astype(np.float32)
        if variance < 0:
            raise ParameterError(f"variance must be >= 0, got {variance}")
        if variance > 0:
            z = z + rng.normal(0.0, variance, size=z.shape).astype(np.float32)
        return z

    def _check_class(self, cls: str) -> None:
        if not self.class_names:
            raise ModelError(
                f"model {self.model_dir.path} has no classes (it was trained on a "
                "dataset without classes): cls= is not available"
            )
        if cls not in self.class_names:
            raise ParameterError(
                f"unknown class {cls!r}; the model's classes: {', '.join(self.class_names)}"
            )

    def generate(
        self,
        out_file: str | Path | None = None,
        audio_files: Sequence[Target] = (),
        weights: Sequence[float] = (),
        normalize_weights: bool = True,
        variance: float = 0.0,
        seed: int | None = None,
        *,
        n_iter: int | None = None,
        prior: str = "fitted",
        cls: str | None = None,
        trim: bool = True,
        texture_db: float = GENERATION_TEXTURE_DB,
        keep_norm: bool | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Generate a new sample; see :meth:`blend` for the weight semantics.

        Parameters
        ----------
        out_file : write a wav there (the named file is replaced atomically)
        audio_files : paths, audio arrays or embeddings to blend
        weights, normalize_weights, variance : as the original
        keep_norm : the blend keeps the inputs' distance from the prior's centre (default:
            when the weights are normalised); False: the plain weighted sum, the original's
            (see :meth:`blend`)
        seed : seeds the random point / the noise (and Griffin-Lim's initial phase)
        n_iter : Griffin-Lim iterations (default: the audio params', 32)
        prior : without files, where the random point comes from: ``"fitted"`` (default; the
            latent sampler fitted to the training sounds, see :meth:`sampler`) or ``"normal"``
            (N(0, I), the original's)
        cls : without files, a class name: a random sound of that class (``prior="fitted"``)
        trim : end the sound where it has decayed, with a short fade-out (default); False
            gives the whole fixed-length clip
        texture_db : spectral texture before Griffin-Lim, dB (default
            :data:`~samplevae.features.GENERATION_TEXTURE_DB`; 0 = none, the original's)

        Returns
        -------
        np.ndarray [shape=(m,)], float32 audio at the model's sample rate: ``m ==
        n_samples`` with ``trim=False``, ``m <= n_samples`` with ``trim=True`` (a silent
        decode gives a short silent clip and a warning)
        """
        if "weigths" in kwargs:  # the original README's spelling
            weights = kwargs.pop("weigths")
        if kwargs:
            raise TypeError(f"generate() got unexpected keyword argument(s) {sorted(kwargs)}")
        z = self.blend(
            audio_files,
            weights,
            normalize_weights,
            variance,
            seed,
            prior=prior,
            cls=cls,
            keep_norm=keep_norm,
        )
        audio = self.decode(
            z,
            n_iter=n_iter,
            seed=seed if seed is not None else _seed_of(z),
            trim=trim,
            texture_db=texture_db,
        )
        if out_file is not None:
            write_wav(out_file, audio, self.audio_params.sample_rate)
        return audio

    def interpolate(
        self,
        a: Target,
        b: Target,
        steps: int = 5,
        *,
        out_dir: str | Path | None = None,
        prefix: str = "interp",
        overwrite: bool = False,
        n_iter: int | None = None,
        trim: bool = False,
        keep_norm: bool = True,
    ) -> list[np.ndarray]:
        """``steps`` sounds from ``a``'s embedding to ``b``'s (both ends included): the blends
        ``(1 - t) a + t b``, each keeping the interpolated distance from the prior's centre
        (``keep_norm``, as :meth:`blend`; False: the straight line, the original's). With
        ``out_dir``, also writes ``<prefix>_NN.wav``; existing files are not overwritten
        unless ``overwrite=True``. Whole clips of one length by default; ``trim=True`` makes
        each a one-shot (see :meth:`generate`)."""
        if steps < 2:
            raise ParameterError(f"steps must be >= 2, got {steps}")
        za, zb = self.embed([a, b])
        paths = []
        if out_dir is not None:
            paths = [Path(out_dir) / f"{prefix}_{i:02d}.wav" for i in range(steps)]
            clash = [str(p) for p in paths if p.exists()]
            if clash and not overwrite:
                raise FileExistsError(f"would overwrite {clash}; pass overwrite=True")
        out = []
        for i, t in enumerate(np.linspace(0.0, 1.0, steps)):
            z = self.blend([za, zb], [1.0 - t, t], keep_norm=keep_norm)
            audio = self.decode(z, n_iter=n_iter, trim=trim)
            if paths:
                write_wav(paths[i], audio, self.audio_params.sample_rate)
            out.append(audio)
        return out

    # --- similarity ------------------------------------------------------------------------

    def find_similar(
        self,
        target: Target,
        num_similar: int = 1,
        display: bool = True,
        *,
        offset: float = 0.0,
        exclude_self: bool = False,
        space: str = "latent",
    ) -> SimilarResult:
        """The library entries nearest to ``target`` (Euclidean).

        ``space="latent"``: in the model's latent space. ``space="mfcc"``: in the MFCC
        statistics of the sounds' features, standardised over the library (no model
        involved). ``space="joint"``: both, half of the distance each
        (:meth:`Library.search_joint`). On drum kits the model never heard, "mfcc" found
        same-class sounds most often, then "joint" (docs/tool.md#which-space-to-search).
        A target given as an embedding has no MFCCs: "latent" only.

        Returns
        -------
        SimilarResult
            ``files, onsets, distances = tool.find_similar(...)``; ``.ids`` are the library
            entry ids. Onsets in seconds, nearest first; distances in the space searched.
        """
        lib = self._require_library()
        if num_similar < 1:
            raise ParameterError(f"num_similar must be >= 1, got {num_similar}")
        if space not in SEARCH_SPACES:
            raise ParameterError(f"space must be one of {SEARCH_SPACES}, got {space!r}")
        entry = self._library_entry(lib, target, offset)
        exclude = None
        if exclude_self and isinstance(target, str | Path):
            exclude = [lib.entries_of(target)]
        if space != "latent":
            share = JOINT_SHARE if space == "joint" else 0.0
            if entry is not None and lib.timbre is not None:
                query, timbre = lib.embeddings[entry], lib.timbre[entry]
            elif self._is_embedding(target):
                raise ParameterError(
                    f"space={space!r} needs a sound (a file, audio or features), not an embedding"
                )
            else:
                feats = self.features_of(target, offset)
                timbre = mfcc_stats_of_features(feats, self.audio_params)
                # the MFCC space gives the latent no weight: the model need not run
                query = self.embed(feats) if share > 0 else np.zeros(self.latent_dim, np.float32)
            ids, dists = lib.search_joint(
                query[None, :], timbre[None, :], num_similar, exclude=exclude, share=share
            )
        else:
            query = (
                lib.embeddings[entry].copy() if entry is not None else self.embed(target, offset)
            )
            ids, dists = lib.search(query[None, :], num_similar, exclude=exclude)
        keep = ids[0] >= 0
        ids, dists = ids[0][keep], dists[0][keep]
        result = SimilarResult(
            [lib.paths[i] for i in ids],
            [float(lib.onsets[i]) for i in ids],
            [float(d) for d in dists],
            [int(i) for i in ids],
        )
        if display:
            for rank, (f, o, d) in enumerate(zip(*result, strict=True), 1):
                print(f"{rank:>3}. {f}  (onset {o:.2f} s, distance {d:.3f})")
        return result

    @staticmethod
    def _library_entry(lib, target: Target, offset: float) -> int | None:
        """The library's entry of ``target`` at ``offset``, if it holds one: the library has
        just checked that the file is unchanged (size, mtime) and embedded it from the same
        features, so the model need not run (the CLI's ``similar`` on a library sample then
        needs no model at all)."""
        if not isinstance(target, str | Path):
            return None
        for i in lib.entries_of(target):
            if abs(float(lib.onsets[i]) - float(offset)) < 1e-9:
                return int(i)
        return None

    def _is_embedding(self, target: Target) -> bool:
        return isinstance(target, np.ndarray | list | tuple) and np.asarray(target).shape == (
            self.latent_dim,
        )

    # --- classification --------------------------------------------------------------------

    def find_duplicates(
        self,
        threshold: float | None = None,
        *,
        exact: bool = True,
        within_file: bool = False,
        fraction: float | None = None,
        progress: bool = False,
    ):
        """Groups of byte-identical files and of near-identical library entries (closer than
        ``threshold`` in latent space); see :func:`samplevae.duplicates.find_duplicates`.
        Nothing is moved or deleted."""
        from samplevae.duplicates import DEFAULT_FRACTION, find_duplicates

        return find_duplicates(
            self._require_library(),
            threshold,
            exact=exact,
            within_file=within_file,
            fraction=DEFAULT_FRACTION if fraction is None else fraction,
            progress=progress,
        )

    def export(self, selection, out_dir: str | Path, **kwargs):
        """Export samples (paths, a :meth:`find_similar` result, generated sounds) as a kit:
        a folder of copies, an SFZ or a Hydrogen kit; see :func:`samplevae.export.export_kit`."""
        from samplevae.export import export_kit

        kwargs.setdefault("library", self.library)
        return export_kit(selection, out_dir, **kwargs)

    def predict(self, target: Target, offset: float = 0.0) -> tuple[np.ndarray, str]:
        """Class probabilities ``[n_classes]`` (order of :attr:`class_names`) and the most
        probable class name.

        Raises
        ------
        ModelError
            The model was trained without classes.
        """
        if not self.model.has_classifier:
            raise ModelError(
                f"model {self.model_dir.path} has no classifier: it was trained on a "
                "dataset without classes (make-dataset --classes)"
            )
        probs = self.model.predict_classes(self.features_of(target, offset)[None])[0]
        return probs, self.class_names[int(np.argmax(probs))]
