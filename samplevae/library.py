"""A sample library: every file (or every onset segment of long files) below some folders,
embedded by a model and searchable by similarity.

The embeddings are cached in the model directory (``libraries/<key>.npz``, one file written
atomically) keyed by the library folders and segmentation settings; inside, each file's
path, size and mtime, the model's weights fingerprint and the audio parameters decide what
is still valid. Re-opening the same library computes nothing; added, changed and deleted
files are updated incrementally; new weights re-embed (the segmentation is kept).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplevae.audio import load_audio
from samplevae.errors import AudioLoadError, SampleVAEError
from samplevae.features import features
from samplevae.io import atomic_save_npz
from samplevae.params import AudioParams, params_hash
from samplevae.segment import SegmentParams, segment_file

__all__ = ["Library", "LibraryStats", "library_key"]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
_CHUNK = 1024  # files per batch of work: bounds memory for very large libraries


@dataclass
class LibraryStats:
    """What the last open did: files reused from the cache, (re)computed, removed, failed."""

    reused: int = 0
    computed: int = 0
    removed: int = 0
    failed: int = 0
    reembedded: bool = False


def library_key(roots: Sequence[str], segmentation: SegmentParams | None) -> str:
    """Cache-file key of a library: its folders and segmentation settings."""
    return params_hash({"roots": sorted(roots),
                        "segmentation": segmentation.to_dict() if segmentation else None})


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _file_job(args: tuple[str, AudioParams, SegmentParams | None, list[float] | None]):
    """Worker: onsets (given, or found by segmentation) and the features at each onset."""
    path, audio, seg, onsets = args
    try:
        if onsets is None:
            onsets = segment_file(path, audio, seg) if seg is not None else [0.0]
        feats = [features(load_audio(path, audio, offset=o), audio) for o in onsets]
    except AudioLoadError as e:
        return None, None, e.reason
    return list(map(float, onsets)), np.stack(feats), None


class Library:
    """Embeddings of a sample library for one model. Build or update with :meth:`open`.

    Attributes
    ----------
    roots : list of str, the library folders
    paths : list of str [n_entries], file of each entry
    onsets : np.ndarray [n_entries], float64 seconds where each entry starts in its file
    embeddings : np.ndarray [n_entries, latent_dim], float32
    skipped : list of (path, reason) for files that could not be used
    stats : LibraryStats of the last open
    """

    def __init__(self, roots, paths, onsets, embeddings, skipped, segmentation, cache_path=None,
                 stats=None, exact_threshold: int = 20000):
        self.roots = list(roots)
        self.paths = list(paths)
        self.onsets = np.asarray(onsets, dtype=np.float64)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.skipped = list(skipped)
        self.segmentation = segmentation
        self.cache_path = cache_path
        self.stats = stats or LibraryStats()
        self.exact_threshold = exact_threshold
        self._index = None

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"Library({len(self)} entries from {len(set(self.paths))} files, roots={self.roots})"

    @property
    def index(self):
        """The nearest-neighbour index (exact for small libraries, approximate above a size)."""
        if self._index is None:
            from samplevae.search import NearestNeighbors

            if len(self) == 0:
                raise SampleVAEError(f"library {self.roots} has no usable entries")
            self._index = NearestNeighbors(exact_threshold=self.exact_threshold).fit(self.embeddings)
        return self._index

    def search(self, queries: np.ndarray, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Ids ``[m, k]`` and Euclidean distances ``[m, k]`` of the nearest entries."""
        return self.index.query(queries, k, exclude=exclude)

    def entries_of(self, path: str | Path) -> np.ndarray:
        """Entry ids of one file (all its segments)."""
        want = os.path.realpath(path)
        return np.array([i for i, p in enumerate(self.paths) if os.path.realpath(p) == want],
                        dtype=np.int64)

    def info(self) -> dict:
        return {
            "roots": self.roots,
            "entries": len(self),
            "files": len(set(self.paths)),
            "segmentation": self.segmentation.to_dict() if self.segmentation else None,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "cache": str(self.cache_path) if self.cache_path else None,
            "index": "exact" if len(self) < self.exact_threshold else "approximate",
            "last_open": vars(self.stats),
        }

    # ---------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        roots: str | Path | Iterable[str | Path],
        *,
        embed: Callable[[np.ndarray], np.ndarray],
        audio: AudioParams,
        weights_fingerprint: str,
        cache_dir: str | Path | None,
        segmentation: SegmentParams | None = None,
        workers: int | None = None,
        progress: bool = True,
        exact_threshold: int = 20000,
    ) -> Library:
        """Build, or update from the cache, the library of every audio file below ``roots``.

        Parameters
        ----------
        embed : features ``[n, n_mels, n_frames]`` -> embeddings ``[n, latent_dim]``
        audio : the model's audio parameters
        weights_fingerprint : changes when the model's weights change
        cache_dir : where ``<key>.npz`` lives (``None``: no cache)
        segmentation : split long files at onsets (``None``: first clip of each file)
        """
        from tqdm.auto import tqdm

        from samplevae.dataset import find_audio_files

        root_list = [roots] if isinstance(roots, str | Path) else list(roots)
        if not root_list:
            raise SampleVAEError("no library folder given")
        root_strs = []
        files: list[str] = []
        skipped: list[tuple[str, str]] = []
        for r in root_list:
            r = Path(r)
            if not r.is_dir():
                raise SampleVAEError(f"library folder {str(r)!r} does not exist or is not a folder")
            root_strs.append(str(r.resolve()))
            found, problems = find_audio_files(r)
            files += [str(f) for f in found]
            skipped += [(p.path, p.reason) for p in problems]

        key = library_key(root_strs, segmentation)
        cache_path = Path(cache_dir) / f"{key}.npz" if cache_dir is not None else None
        old = _read_cache(cache_path, audio) if cache_path is not None else None
        same_weights = old is not None and old["weights"] == weights_fingerprint

        stats = LibraryStats(reembedded=old is not None and not same_weights)
        rows: dict[str, tuple[list[float], np.ndarray | None]] = {}
        sigs: dict[str, tuple[int, int]] = {}
        todo: list[tuple[str, list[float] | None]] = []
        for f in files:
            sig = _signature(f)
            if sig is None:
                skipped.append((f, "cannot stat file"))
                continue
            sigs[f] = sig
            prev = old["files"].get(f) if old is not None else None
            if prev is not None and tuple(prev["sig"]) == sig:
                if "error" in prev:
                    skipped.append((f, prev["error"]))
                    stats.reused += 1
                elif same_weights:
                    rows[f] = (prev["onsets"], old["embeddings"][prev["start"]:prev["stop"]])
                    stats.reused += 1
                else:  # keep the segmentation, embed again
                    todo.append((f, prev["onsets"]))
            else:
                todo.append((f, None))
        if old is not None:
            stats.removed = sum(1 for f in old["files"] if f not in sigs)

        errors: dict[str, str] = {f: r for f, r in skipped if f in sigs}
        bar = tqdm(total=len(todo), desc="library", unit="file", disable=not progress or not todo)
        try:
            for path, result in _run_jobs(todo, audio, segmentation, workers):
                onsets, feats, error = result
                if error is not None:
                    errors[path] = error
                    skipped.append((path, error))
                    stats.failed += 1
                else:
                    rows[path] = (onsets, feats)
                    stats.computed += 1
                bar.update(1)
                # Embed in batches as features arrive, so memory stays bounded.
                _embed_pending(rows, embed, force=False)
        finally:
            bar.close()
        _embed_pending(rows, embed, force=True)

        lib_paths, lib_onsets, lib_emb, file_meta = [], [], [], {}
        for f in files:
            if f in rows:
                onsets, emb = rows[f]
                file_meta[f] = {"sig": list(sigs[f]), "onsets": onsets,
                                "start": len(lib_paths), "stop": len(lib_paths) + len(onsets)}
                lib_paths += [f] * len(onsets)
                lib_onsets += onsets
                lib_emb.append(emb)
            elif f in errors and f in sigs:
                file_meta[f] = {"sig": list(sigs[f]), "error": errors[f]}
        embeddings = (np.concatenate(lib_emb).astype(np.float32) if lib_emb
                      else np.zeros((0, 0), dtype=np.float32))
        lib = cls(root_strs, lib_paths, lib_onsets, embeddings, skipped, segmentation, cache_path,
                  stats, exact_threshold)
        if cache_path is not None and (todo or stats.removed or old is None):
            _write_cache(cache_path, lib, file_meta, audio, weights_fingerprint)
        for p, r in skipped:
            log.warning("library: skipped %s: %s", p, r)
        return lib


_PENDING_BATCH = 512


def _embed_pending(rows, embed, *, force: bool) -> None:
    """Replace feature stacks in ``rows`` by embeddings, a batch at a time."""
    pending = [f for f, (_, x) in rows.items() if x is not None and x.ndim == 3]
    n = sum(rows[f][1].shape[0] for f in pending)
    if not pending or (n < _PENDING_BATCH and not force):
        return
    batch = np.concatenate([rows[f][1] for f in pending])
    emb = np.asarray(embed(batch), dtype=np.float32)
    start = 0
    for f in pending:
        onsets, x = rows[f]
        rows[f] = (onsets, emb[start:start + x.shape[0]])
        start += x.shape[0]


def _run_jobs(todo, audio, segmentation, workers) -> Iterator[tuple[str, tuple]]:
    jobs = [(path, audio, segmentation, onsets) for path, onsets in todo]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) <= 16:
        for job in jobs:
            yield job[0], _file_job(job)
        return
    import multiprocessing as mp

    # TensorFlow is loaded by now: forking it can deadlock, so workers are spawned.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for start in range(0, len(jobs), _CHUNK):
            chunk = jobs[start:start + _CHUNK]
            results = pool.map(_file_job, chunk, chunksize=max(1, len(chunk) // (8 * workers)))
            for job, result in zip(chunk, results, strict=True):
                yield job[0], result


def _read_cache(path: Path, audio: AudioParams) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            embeddings = z["embeddings"]
    except (OSError, ValueError, KeyError) as e:
        log.warning("library cache %s is unreadable (%s); rebuilding", path, e)
        return None
    if meta.get("format_version") != FORMAT_VERSION or meta.get("audio") != audio.key():
        return None
    return {"weights": meta.get("weights"), "files": meta.get("files", {}), "embeddings": embeddings}


def _write_cache(path: Path, lib: Library, file_meta: dict, audio: AudioParams, weights: str) -> None:
    meta = {
        "format_version": FORMAT_VERSION,
        "roots": lib.roots,
        "audio": audio.key(),
        "weights": weights,
        "segmentation": lib.segmentation.to_dict() if lib.segmentation else None,
        "files": file_meta,
    }
    atomic_save_npz(path, meta=np.array(json.dumps(meta)), embeddings=lib.embeddings,
                    onsets=lib.onsets)
