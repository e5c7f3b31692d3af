"""``SoundSampleTool``: generate, find similar samples and classify with a trained model.

The original's API, without its limits: any number of tools per process, targets given as
paths, audio arrays or embeddings, a cached and incrementally updated library, and a fast
nearest-neighbour index::

    tool = SoundSampleTool("model_NI", library_dir="/Users/MySampleLibrary")
    tool.generate(out_file="generated.wav", audio_files=[kick, snare], weights=[1, 2])
    similar_files, onsets, distances = tool.find_similar(target_file, num_similar=10)
    probabilities, predicted_class = tool.predict(target_file)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from samplevae.audio import fit_length, load_audio, write_wav
from samplevae.errors import ModelError, ParameterError
from samplevae.features import audio_from_features, features
from samplevae.segment import SegmentParams

__all__ = ["SoundSampleTool", "SimilarResult", "Target"]

log = logging.getLogger(__name__)

#: What the tool accepts as a sample: a path, an audio signal ``[n_samples]`` at the model's
#: sample rate, a feature matrix ``[n_mels, n_frames]``, or an embedding ``[latent_dim]``.
Target = str | Path | np.ndarray


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
        return (f"SimilarResult(files={self.files!r}, onsets={self.onsets!r}, "
                f"distances={self.distances!r}, ids={self.ids!r})")


class SoundSampleTool:
    """A trained model, optionally with a sample library, ready to generate, search and classify.

    Parameters
    ----------
    logdir : path of a model directory written by ``samplevae train``
    library_dir : folder (or list of folders) of samples to search in; optional
    library_segmentation : split files longer than the clip at onsets, each segment an entry
    segment_params : tuning of the segmentation (:class:`~samplevae.segment.SegmentParams`)
    progress : show progress bars while building the library
    workers : processes for library feature extraction (default: every core)
    exact_threshold : libraries with fewer entries are searched exactly, larger ones
        with an approximate index (recall@10 >= 0.95)
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
    ):
        from samplevae.modeldir import ModelDir

        self.model_dir = ModelDir(logdir)
        self.params = self.model_dir.params
        self.audio_params = self.params.audio
        self.model = self.model_dir.load_model()
        self.progress = progress
        self.workers = workers
        self.exact_threshold = exact_threshold
        self.library = None
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
            cache_dir=self.model_dir.path / "libraries",
            segmentation=segmentation,
            workers=self.workers,
            progress=self.progress,
            exact_threshold=self.exact_threshold,
        )
        return self.library

    def _require_library(self):
        if self.library is None:
            raise ModelError("this tool has no sample library: pass library_dir= when creating it "
                             "or call load_library(folder)")
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
            f"at {self.audio_params.sample_rate} Hz or features {self.audio_params.shape}")

    def embed(self, targets: Target | Sequence[Target], offsets: float | Sequence[float] = 0.0,
              *, batch_size: int = 256) -> np.ndarray:
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
            isinstance(targets, np.ndarray) and targets.ndim in (1, 2)
            and (targets.ndim == 1 or targets.shape == self.audio_params.shape))
        items = [targets] if single else list(targets)
        offs = [offsets] * len(items) if np.isscalar(offsets) else list(offsets)
        if len(offs) != len(items):
            raise ParameterError(f"{len(offs)} offsets for {len(items)} targets")
        out = np.zeros((len(items), self.latent_dim), dtype=np.float32)
        feat_idx, feats = [], []
        for i, (t, o) in enumerate(zip(items, offs, strict=True)):
            if isinstance(t, np.ndarray | list | tuple) and np.asarray(t).shape == (self.latent_dim,):
                out[i] = np.asarray(t, dtype=np.float32)
            else:
                feat_idx.append(i)
                feats.append(self.features_of(t, o))
        for start in range(0, len(feats), batch_size):
            batch = np.stack(feats[start:start + batch_size])
            out[feat_idx[start:start + batch_size]] = self.model.encode(batch)
        return out[0] if single else out

    def decode(self, z: np.ndarray, *, n_iter: int | None = None, seed: int | None = 0) -> np.ndarray:
        """Audio ``[n_samples]`` from an embedding ``[latent_dim]`` (decoder + Griffin-Lim)."""
        z = np.asarray(z, dtype=np.float32).reshape(1, self.latent_dim)
        spec = self.model.decode(z)[0]
        return audio_from_features(spec, self.audio_params, n_iter=n_iter, seed=seed)

    # --- generation ------------------------------------------------------------------------

    def blend(self, audio_files: Sequence[Target] = (), weights: Sequence[float] = (),
              normalize_weights: bool = True, variance: float = 0.0,
              seed: int | None = None) -> np.ndarray:
        """The latent point :meth:`generate` decodes: ``[latent_dim]`` float32.

        No files: a random point from N(0, I). Files: the weighted sum of their embeddings,
        weights normalised to sum 1 unless ``normalize_weights=False``; a weight count that
        does not match the files gives equal weights; weights summing to 0 with normalisation
        give equal weights and a warning. ``variance`` adds Gaussian noise of that standard
        deviation to every dimension.
        """
        rng = np.random.default_rng(seed)
        files = list(audio_files) if not isinstance(audio_files, str | Path) else [audio_files]
        if not files:
            z = rng.standard_normal(self.latent_dim).astype(np.float32)
        else:
            emb = self.embed(files)
            w = np.asarray(list(weights), dtype=np.float64)
            if w.shape != (len(files),):
                if len(w):
                    log.warning("got %d weights for %d files: using equal weights", len(w), len(files))
                w = np.ones(len(files))
            if normalize_weights:
                total = w.sum()
                if np.isclose(total, 0.0):
                    warnings.warn("weights sum to 0 and cannot be normalised: using equal weights",
                                  stacklevel=3)
                    w = np.ones(len(files)) / len(files)
                else:
                    w = w / total
            z = (w[:, None] * emb).sum(axis=0).astype(np.float32)
        if variance < 0:
            raise ParameterError(f"variance must be >= 0, got {variance}")
        if variance > 0:
            z = z + rng.normal(0.0, variance, size=z.shape).astype(np.float32)
        return z

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
        **kwargs: Any,
    ) -> np.ndarray:
        """Generate a new sample; see :meth:`blend` for the weight semantics.

        Parameters
        ----------
        out_file : write a wav there (the named file is replaced atomically)
        audio_files : paths, audio arrays or embeddings to blend
        weights, normalize_weights, variance : as the original
        seed : seeds the random point / the noise (and Griffin-Lim's initial phase)
        n_iter : Griffin-Lim iterations (default: the audio params', 32)

        Returns
        -------
        np.ndarray [shape=(n_samples,)], float32 audio at the model's sample rate
        """
        if "weigths" in kwargs:  # the original README's spelling
            weights = kwargs.pop("weigths")
        if kwargs:
            raise TypeError(f"generate() got unexpected keyword argument(s) {sorted(kwargs)}")
        z = self.blend(audio_files, weights, normalize_weights, variance, seed)
        audio = self.decode(z, n_iter=n_iter, seed=seed if seed is not None else 0)
        if out_file is not None:
            write_wav(out_file, audio, self.audio_params.sample_rate)
        return audio

    def interpolate(self, a: Target, b: Target, steps: int = 5, *, out_dir: str | Path | None = None,
                    prefix: str = "interp", overwrite: bool = False,
                    n_iter: int | None = None) -> list[np.ndarray]:
        """``steps`` sounds on the straight line from ``a``'s embedding to ``b``'s (both ends
        included). With ``out_dir``, also writes ``<prefix>_NN.wav``; existing files are
        not overwritten unless ``overwrite=True``."""
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
            audio = self.decode((1 - t) * za + t * zb, n_iter=n_iter)
            if paths:
                write_wav(paths[i], audio, self.audio_params.sample_rate)
            out.append(audio)
        return out

    # --- similarity ------------------------------------------------------------------------

    def find_similar(self, target: Target, num_similar: int = 1, display: bool = True, *,
                     offset: float = 0.0, exclude_self: bool = False) -> SimilarResult:
        """The library entries nearest to ``target`` in latent space (Euclidean).

        Returns
        -------
        SimilarResult
            ``files, onsets, distances = tool.find_similar(...)``; ``.ids`` are the library
            entry ids. Onsets in seconds, nearest first.
        """
        lib = self._require_library()
        if num_similar < 1:
            raise ParameterError(f"num_similar must be >= 1, got {num_similar}")
        query = self.embed(target, offset)
        exclude = None
        if exclude_self and isinstance(target, str | Path):
            exclude = [lib.entries_of(target)]
        ids, dists = lib.search(query[None, :], num_similar, exclude=exclude)
        keep = ids[0] >= 0
        ids, dists = ids[0][keep], dists[0][keep]
        result = SimilarResult([lib.paths[i] for i in ids], [float(lib.onsets[i]) for i in ids],
                                 [float(d) for d in dists], [int(i) for i in ids])
        if display:
            for rank, (f, o, d) in enumerate(zip(*result, strict=True), 1):
                print(f"{rank:>3}. {f}  (onset {o:.2f} s, distance {d:.3f})")
        return result

    # --- classification --------------------------------------------------------------------

    def predict(self, target: Target, offset: float = 0.0) -> tuple[np.ndarray, str]:
        """Class probabilities ``[n_classes]`` (order of :attr:`class_names`) and the most
        probable class name.

        Raises
        ------
        ModelError
            The model was trained without classes.
        """
        if not self.model.has_classifier:
            raise ModelError(f"model {self.model_dir.path} has no classifier: it was trained on a "
                             "dataset without classes (make-dataset --classes)")
        probs = self.model.predict_classes(self.features_of(target, offset)[None])[0]
        return probs, self.class_names[int(np.argmax(probs))]
