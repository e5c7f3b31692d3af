"""A sample library: every file (or every onset segment of long files) below some folders,
embedded by a model and searchable by similarity.

The embeddings are cached in the model directory (``libraries/<key>.npz``, one file written
atomically) keyed by the library folders (resolved) and segmentation settings; inside, each
file's resolved absolute path, size and mtime, the model's weights fingerprint and the audio
parameters decide what is still valid. Re-opening the same library computes nothing, by
whatever spelling of its folders (relative, absolute, through a symlink) and from any
working directory; ``paths`` report each file below the folder as the caller spelled it
(made absolute). Added, changed and deleted files are updated incrementally; new weights
re-embed (the segmentation is kept). A long build saves what it has done every
``save_every`` seconds and when interrupted, so the next open computes only the rest; a
cut-off or damaged cache file is named in a warning and rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplevae.audio import load_audio
from samplevae.errors import AudioLoadError, SampleVAEError
from samplevae.features import features, mfcc_stats_of_features, use_scipy
from samplevae.io import atomic_save_npz
from samplevae.params import AudioParams, params_hash
from samplevae.segment import SegmentParams, segment_file

__all__ = ["Library", "LibraryStats", "library_key", "SEARCH_SPACES", "JOINT_SHARE"]

log = logging.getLogger(__name__)
FORMAT_VERSION = 2  # 2: the entries' MFCC statistics (``timbre``) beside the embeddings
SAVE_EVERY = 2.0  # seconds between progress saves of a long library build (at least)
#: With ``workers=None``, fewer files than this are computed in this process when workers
#: would have to be spawned: measured on 2 cores, 200 files took 1.6 s in-process and 3.5 s
#: with spawned workers (most of it their start-up); at 900 files the two were level.
SPAWN_SERIAL_BELOW = 400
#: What ``find_similar(space=)`` searches: the latent space, latent + MFCC statistics, or
#: the MFCC statistics alone.
SEARCH_SPACES = ("latent", "joint", "mfcc")
#: The latent's share of a joint-space distance (the MFCC statistics take the rest): set a
#: priori at half; bench/quality.py prints 0, 0.25, 0.5 and 0.75 beside it.
JOINT_SHARE = 0.5


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
    return params_hash(
        {"roots": sorted(roots), "segmentation": segmentation.to_dict() if segmentation else None}
    )


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


# The embed function of a worker process (Library.open's `worker_embed`), set there by
# _set_worker_embed; None in this process, which then embeds the features itself.
_worker_embed: Callable[[np.ndarray], np.ndarray] | None = None


def _set_worker_embed(fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
    global _worker_embed
    _worker_embed = fn


def _file_job(args: tuple[str, AudioParams, SegmentParams | None, list[float] | None]):
    """Worker: onsets (given, or found by segmentation), the features at each onset and their
    MFCC statistics."""
    path, audio, seg, onsets = args
    use_scipy()
    try:
        if onsets is None:
            onsets = segment_file(path, audio, seg) if seg is not None else [0.0]
        feats = np.stack([features(load_audio(path, audio, offset=o), audio) for o in onsets])
    except AudioLoadError as e:
        return None, None, None, e.reason
    return list(map(float, onsets)), feats, mfcc_stats_of_features(feats, audio), None


def _files_job(jobs: list) -> list:
    """Worker: :func:`_file_job` of each file of a task; in a worker that embeds, the
    features of them all embedded in one call (its passes of several clips run faster)."""
    results = [_file_job(job) for job in jobs]
    done = [i for i, r in enumerate(results) if r[3] is None]
    if _worker_embed is None or not done:
        return results
    emb = np.asarray(_worker_embed(np.concatenate([results[i][1] for i in done])), np.float32)
    start = 0
    for i in done:
        onsets, feats, timbre, _ = results[i]
        results[i] = (onsets, emb[start : start + len(feats)], timbre, None)
        start += len(feats)
    return results


class Library:
    """Embeddings of a sample library for one model. Build or update with :meth:`open`.

    Attributes
    ----------
    roots : list of str, the library folders
    paths : list of str [n_entries], file of each entry
    onsets : np.ndarray [n_entries], float64 seconds where each entry starts in its file
    embeddings : np.ndarray [n_entries, latent_dim], float32
    timbre : np.ndarray [n_entries, 80], float32, or None: the MFCC statistics of each entry's
        features (:func:`samplevae.features.mfcc_stats_of_features`), for
        :meth:`search_joint`
    skipped : list of (path, reason) for files that could not be used
    stats : LibraryStats of the last open
    """

    def __init__(
        self,
        roots,
        paths,
        onsets,
        embeddings,
        skipped,
        segmentation,
        cache_path=None,
        stats=None,
        exact_threshold: int = 20000,
        real_paths=None,
        timbre=None,
    ):
        self.roots = list(roots)
        self.paths = list(paths)
        self.onsets = np.asarray(onsets, dtype=np.float64)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.timbre = None if timbre is None else np.asarray(timbre, dtype=np.float32)
        if self.timbre is not None and len(self.timbre) != len(self.embeddings):
            raise SampleVAEError(
                f"{len(self.timbre)} timbre rows for {len(self.embeddings)} embeddings"
            )
        self.skipped = list(skipped)
        self.segmentation = segmentation
        self.cache_path = cache_path
        self.stats = stats or LibraryStats()
        self.exact_threshold = exact_threshold
        self._index = None
        self._joint: dict[float, tuple] = {}  # latent share -> (JointSpace, its index)
        # resolved path of each entry's file (given by open(), else resolved on first use)
        self._real_paths = list(real_paths) if real_paths is not None else None
        self._ids_of: dict[str, np.ndarray] | None = None

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
            self._index = NearestNeighbors(exact_threshold=self.exact_threshold).fit(
                self.embeddings
            )
        return self._index

    def search(self, queries: np.ndarray, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Ids ``[m, k]`` and Euclidean distances ``[m, k]`` of the nearest entries."""
        return self.index.query(queries, k, exclude=exclude)

    def search_joint(
        self,
        queries: np.ndarray,
        timbre: np.ndarray,
        k: int,
        exclude=None,
        *,
        share: float = JOINT_SHARE,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`search`, in the latent vectors and the MFCC statistics together
        (:class:`~samplevae.search.JointSpace`, fitted on this library): ``queries``
        ``[m, latent_dim]`` and their ``timbre`` ``[m, 80]``; the latent takes ``share`` of
        the distance (0: the MFCC statistics alone)."""
        if self.timbre is None:
            raise SampleVAEError("this library holds no MFCC statistics: open it again to add them")
        share = float(share)
        if not 0.0 <= share <= 1.0:
            raise SampleVAEError(f"share must be in [0, 1], got {share}")
        if share not in self._joint:
            from samplevae.search import JointSpace, NearestNeighbors

            if len(self) == 0:
                raise SampleVAEError(f"library {self.roots} has no usable entries")
            space = JointSpace([share, 1.0 - share]).fit([self.embeddings, self.timbre])
            rows = space.transform([self.embeddings, self.timbre]).astype(np.float32)
            index = NearestNeighbors(exact_threshold=self.exact_threshold).fit(rows)
            self._joint[share] = (space, index)
        space, index = self._joint[share]
        q = space.transform([np.atleast_2d(queries), np.atleast_2d(timbre)]).astype(np.float32)
        return index.query(q, k, exclude=exclude)

    def entries_of(self, path: str | Path) -> np.ndarray:
        """Entry ids of one file (all its segments)."""
        if self._ids_of is None:
            real = self._real_paths
            if real is None or len(real) != len(self.paths):
                real = [os.path.realpath(p) for p in self.paths]
            ids: dict[str, list[int]] = {}
            for i, p in enumerate(real):
                ids.setdefault(p, []).append(i)
            self._ids_of = {p: np.array(v, dtype=np.int64) for p, v in ids.items()}
        return self._ids_of.get(os.path.realpath(path), np.zeros(0, dtype=np.int64)).copy()

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
        save_every: float | None = None,
        worker_embed: Callable[[int], Callable[[np.ndarray], np.ndarray] | None] | None = None,
    ) -> Library:
        """Build, or update from the cache, the library of every audio file below ``roots``.

        Parameters
        ----------
        embed : features ``[n, n_mels, n_frames]`` -> embeddings ``[n, latent_dim]``
        audio : the model's audio parameters
        weights_fingerprint : changes when the model's weights change
        cache_dir : where ``<key>.npz`` lives (``None``: no cache)
        segmentation : split long files at onsets (``None``: first clip of each file)
        workers : processes that decode and take features while this one embeds (default:
            every core; with TensorFlow loaded, under :data:`SPAWN_SERIAL_BELOW` files all
            is done in this process, which beats starting the workers)
        save_every : seconds between saves of the work done so far during a long build
            (also saved when interrupted), so an interrupted build is resumed, not redone;
            default :data:`SAVE_EVERY` (2 s, longer when a save takes more than 5 % of that)
        worker_embed : ``worker_embed(n_files)`` for a build of ``n_files``: a picklable
            function that the worker processes embed with, right after taking the features
            (:meth:`NumpyVAE.worker_encoder <samplevae.inference.NumpyVAE.worker_encoder>`:
            no TensorFlow, both cores busy from the start), or None to embed in this process
            with ``embed``
        """
        adaptive = save_every is None
        save_every = SAVE_EVERY if save_every is None else float(save_every)
        root_list = [roots] if isinstance(roots, str | Path) else list(roots)
        if not root_list:
            raise SampleVAEError("no library folder given")
        shown_roots, real_roots, files, skipped = _scan(root_list)

        key = library_key(real_roots, segmentation)
        cache_path = Path(cache_dir) / f"{key}.npz" if cache_dir is not None else None
        old = _read_cache(cache_path, audio) if cache_path is not None else None
        same_weights = old is not None and old["weights"] == weights_fingerprint

        stats = LibraryStats(reembedded=old is not None and not same_weights)
        build = _Build(files, embed)
        todo: list[tuple[str, list[float] | None]] = []
        for shown, real in files:
            sig = _signature(real)
            if sig is None:
                skipped.append((shown, "cannot stat file"))
                continue
            build.sigs[real] = sig
            prev = old["files"].get(real) if old is not None else None
            if prev is not None and tuple(prev["sig"]) == sig:
                if "error" in prev:
                    build.errors[real] = prev["error"]
                    skipped.append((shown, prev["error"]))
                    stats.reused += 1
                elif same_weights:
                    build.rows[real] = (
                        prev["onsets"],
                        old["embeddings"][prev["start"] : prev["stop"]],
                        old["timbre"][prev["start"] : prev["stop"]],
                    )
                    stats.reused += 1
                else:  # keep the segmentation, embed again
                    todo.append((real, prev["onsets"]))
            else:
                todo.append((real, None))
        if old is not None:
            stats.removed = sum(1 for f in old["files"] if f not in build.sigs)

        def save() -> None:
            if cache_path is not None:
                _write_cache(
                    cache_path,
                    real_roots,
                    segmentation,
                    build.snapshot(),
                    audio,
                    weights_fingerprint,
                )

        from samplevae.parallel import start_method

        # Spawning workers (TensorFlow is loaded) costs 1-2 s before the first result; a
        # small library is done sooner in this process. An explicit `workers` is obeyed.
        serial_below = 17
        if workers is None and start_method() == "spawn":
            serial_below = SPAWN_SERIAL_BELOW
        shown_of = dict((real, shown) for shown, real in files)
        jobs = [(path, audio, segmentation, onsets) for path, onsets in todo]
        in_workers = worker_embed(len(jobs)) if worker_embed is not None and jobs else None
        last_save = time.monotonic()
        try:
            # Unordered, with ~2 encoder batches of files in flight: the workers decode and
            # take features while this process embeds the previous batch, or embed them
            # too (`worker_embed`); the rows are keyed by path and the snapshot puts them in
            # file order.
            for j, (onsets, feats, timbre, error) in _map(
                _files_job,
                jobs,
                workers=workers,
                ordered=False,
                serial_below=serial_below,
                chunksize=_CHUNK,
                in_flight=2 * _PENDING_BATCH // _CHUNK,
                progress=progress,
                desc="library",
                initializer=_set_worker_embed if in_workers is not None else None,
                initargs=(in_workers,),
                batched=True,
            ):
                path = todo[j][0]
                if error is not None:
                    build.errors[path] = error
                    skipped.append((shown_of[path], error))
                    stats.failed += 1
                else:
                    build.add(path, onsets, feats, timbre)
                    stats.computed += 1
                # Embed in batches as features arrive, so memory stays bounded.
                build.embed_pending(force=False)
                if time.monotonic() - last_save >= save_every:
                    t0 = time.monotonic()
                    build.embed_pending(force=True)
                    save()
                    last_save = time.monotonic()
                    if adaptive:  # a huge library's save takes long: keep it under ~5 %
                        save_every = max(save_every, 20 * (last_save - t0))
        except BaseException:
            # Keep what was done: the next open computes only the rest.
            build.embed_pending_or_drop()
            if cache_path is not None and (stats.computed or stats.failed):
                try:
                    save()
                    log.warning(
                        "library: interrupted; saved %d file(s) done so far to %s",
                        stats.computed + stats.failed,
                        cache_path,
                    )
                except Exception as e:  # never hide the interruption behind a save error
                    log.warning("library: could not save the work done to %s (%s)", cache_path, e)
            raise
        build.embed_pending(force=True)

        snap = build.snapshot()
        lib = cls(
            shown_roots,
            [shown_of[p] for p in snap.paths],
            snap.onsets,
            snap.embeddings,
            skipped,
            segmentation,
            cache_path,
            stats,
            exact_threshold,
            real_paths=snap.paths,
            timbre=snap.timbre,
        )
        if cache_path is not None and (todo or stats.removed or old is None):
            _write_cache(cache_path, real_roots, segmentation, snap, audio, weights_fingerprint)
        for p, r in skipped:
            log.warning("library: skipped %s: %s", p, r)
        return lib


def _map(fn, jobs, **kwargs):
    """:func:`samplevae.parallel.parallel_map`, skipped (with its progress bar's import) when
    there is nothing to compute: a re-open from the cache starts in a fraction of a second."""
    if not jobs:
        return iter(())
    from samplevae.parallel import parallel_map

    return parallel_map(fn, jobs, **kwargs)


_PENDING_BATCH = 256  # feature stacks embedded at once (the model's inference batch)
_CHUNK = 16  # files per worker task


def _scan(root_list) -> tuple[list[str], list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Roots as the user spelled them (made absolute) and resolved, the audio files below
    them as ``(shown, real)`` (each real file once), and the problems met on the way."""
    from samplevae.audio import find_audio_files

    shown_roots, real_roots = [], []
    files: list[tuple[str, str]] = []
    seen: set[str] = set()
    skipped: list[tuple[str, str]] = []
    for r in root_list:
        r = Path(r).expanduser()
        if not r.is_dir():
            raise SampleVAEError(f"library folder {str(r)!r} does not exist or is not a folder")
        shown_root = os.path.abspath(r)
        shown_roots.append(shown_root)
        real_roots.append(os.path.realpath(r))
        found, problems = find_audio_files(shown_root)
        for f in found:
            real = os.path.realpath(f)
            if real not in seen:
                seen.add(real)
                files.append((str(f), real))
        skipped += [(p.path, p.reason) for p in problems]
    return shown_roots, real_roots, files, skipped


@dataclass
class _Snapshot:
    paths: list[str]  # real paths, one per entry
    onsets: list[float]
    embeddings: np.ndarray
    file_meta: dict
    timbre: np.ndarray


class _Build:
    """The state of one open: rows per real path ``(onsets, features until embedded, MFCC
    statistics)``, errors, sigs."""

    def __init__(self, files: list[tuple[str, str]], embed):
        self.files = files
        self.embed = embed
        self.rows: dict[str, tuple[list[float], np.ndarray, np.ndarray]] = {}
        self.sigs: dict[str, tuple[int, int]] = {}
        self.errors: dict[str, str] = {}
        self.pending: list[str] = []  # paths whose rows still hold features
        self.n_pending = 0  # clips in them

    def add(self, path: str, onsets: list[float], x: np.ndarray, timbre: np.ndarray) -> None:
        """One file: its features ``[n, n_mels, n_frames]``, embedded by the next
        :meth:`embed_pending`, or its embeddings ``[n, latent_dim]``."""
        self.rows[path] = (onsets, x, timbre)
        if x.ndim == 3:
            self.pending.append(path)
            self.n_pending += x.shape[0]

    def embed_pending(self, *, force: bool) -> None:
        """Replace feature stacks in ``rows`` by embeddings, a batch at a time (the pending
        list is kept, not found by scanning every row: that was quadratic in the build)."""
        rows, pending = self.rows, self.pending
        if not pending or (self.n_pending < _PENDING_BATCH and not force):
            return
        batch = np.concatenate([rows[f][1] for f in pending])
        emb = np.asarray(self.embed(batch), dtype=np.float32)
        start = 0
        for f in pending:
            onsets, x, timbre = rows[f]
            rows[f] = (onsets, emb[start : start + x.shape[0]], timbre)
            start += x.shape[0]
        self.pending, self.n_pending = [], 0

    def embed_pending_or_drop(self) -> None:
        """After an interruption: embed what has features, or drop it if that fails too."""
        try:
            self.embed_pending(force=True)
        except BaseException:
            for f in self.pending:
                del self.rows[f]
            self.pending, self.n_pending = [], 0

    def snapshot(self) -> _Snapshot:
        """Entries of the files done so far (embedded), in file order, and their cache meta."""
        paths: list[str] = []
        onsets_all: list[float] = []
        embs, timbres = [], []
        meta = {}
        for _, f in self.files:
            if f in self.rows and self.rows[f][1].ndim == 2:
                onsets, emb, timbre = self.rows[f]
                meta[f] = {
                    "sig": list(self.sigs[f]),
                    "onsets": onsets,
                    "start": len(paths),
                    "stop": len(paths) + len(onsets),
                }
                paths += [f] * len(onsets)
                onsets_all += onsets
                embs.append(emb)
                timbres.append(timbre)
            elif f in self.errors and f in self.sigs:
                meta[f] = {"sig": list(self.sigs[f]), "error": self.errors[f]}
        embeddings = (
            np.concatenate(embs).astype(np.float32) if embs else np.zeros((0, 0), dtype=np.float32)
        )
        timbre = (
            np.concatenate(timbres).astype(np.float32)
            if timbres
            else np.zeros((0, 0), dtype=np.float32)
        )
        return _Snapshot(paths, onsets_all, embeddings, meta, timbre)


def _read_cache(path: Path, audio: AudioParams) -> dict | None:
    """The cache's content, or ``None`` (with a warning naming the file and why) when it is
    missing, cut off, damaged or inconsistent: the library is then rebuilt."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            embeddings = z["embeddings"]
            timbre = z["timbre"] if "timbre" in z.files else None
        files = meta.get("files", {})
        if meta.get("format_version") != FORMAT_VERSION or meta.get("audio") != audio.key():
            return None
        n = len(embeddings)
        if timbre is None or len(timbre) != n:
            raise ValueError(f"{n} embeddings but timbre of shape {getattr(timbre, 'shape', None)}")
        for f, m in files.items():
            if "error" not in m and not (
                0 <= m["start"] <= m["stop"] <= n and m["stop"] - m["start"] == len(m["onsets"])
            ):
                raise ValueError(f"entry of {f} points outside the {n} stored embeddings")
        if embeddings.size and not np.all(np.isfinite(embeddings)):
            raise ValueError("embeddings hold NaN or infinite values")
        if timbre.size and not np.all(np.isfinite(timbre)):
            raise ValueError("timbre holds NaN or infinite values")
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        EOFError,
        zipfile.BadZipFile,
    ) as e:
        log.warning(
            "library cache %s is unreadable (%s: %s); rebuilding it", path, type(e).__name__, e
        )
        return None
    return {
        "weights": meta.get("weights"),
        "files": files,
        "embeddings": embeddings,
        "timbre": timbre,
    }


def _write_cache(
    path: Path,
    roots: list[str],
    segmentation: SegmentParams | None,
    snap: _Snapshot,
    audio: AudioParams,
    weights: str,
) -> None:
    meta = {
        "format_version": FORMAT_VERSION,
        "roots": roots,
        "audio": audio.key(),
        "weights": weights,
        "segmentation": segmentation.to_dict() if segmentation else None,
        "files": snap.file_meta,
    }
    atomic_save_npz(
        path,
        meta=np.array(json.dumps(meta)),
        embeddings=snap.embeddings,
        timbre=snap.timbre,
        onsets=np.asarray(snap.onsets, dtype=np.float64),
    )
