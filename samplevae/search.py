"""Nearest-neighbour search over latent embeddings, on faiss's own indexes: exact below a size
threshold, an IVF index above it.

* **Exact** (fewer than ``exact_threshold`` entries): a faiss ``IndexFlatL2``. Its float32
  distances only pick the candidates (2k, more while an entry not fetched could still be
  nearer than the k-th within float32 rounding), which are measured again in float64: the
  answer equals brute force in float64, ties ordered by id. A small library (up to
  ``_NUMPY_EXACT_MAX`` numbers, 4096 x 64) is measured whole in float64 by numpy, the same
  answer without importing faiss.
* **Approximate** (``exact_threshold`` entries or more): a faiss ``IndexIVFFlat`` with about
  ``sqrt(n)`` k-means cells, searched with per-call ``faiss.SearchParametersIVF``. The number
  of cells a query visits (``nprobe``) is calibrated at build time on a sample of the library
  (each sample's own entry left out) so that recall@10 against exact search reaches
  ``target_recall``. Candidates are re-measured in float64 as in the exact path; a query whose
  visited cells hold fewer than ``k`` usable entries visits more.

Entries are numbered ``0..n-1`` in the order given to :meth:`NearestNeighbors.fit`. A query
changes nothing, so queries are safe from several threads.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from samplevae.errors import ParameterError

__all__ = ["NearestNeighbors", "JointSpace", "recall_at_k"]

log = logging.getLogger(__name__)

_CAL_QUERIES = 256  # library entries used to calibrate nprobe
_CAL_K = 10  # calibrated for recall@10
_MAX_POINTS_PER_CELL = 64  # k-means training sample per centroid
_KMEANS_ITERS = 12
_BLOCK_BYTES = 32 << 20  # working memory of the float64 re-measure of one block
_EPS32 = float(np.finfo(np.float32).eps)
#: Exact search of up to this many numbers (entries x dimensions: 4096 x 64) measures every
#: entry in numpy (~1 ms a query) instead of importing faiss (0.2-0.5 s of a CLI query).
_NUMPY_EXACT_MAX = 4096 * 64


class JointSpace:
    """Several descriptors of the same entries side by side, for one Euclidean search.

    :meth:`fit` standardises each block per dimension over the library's rows (no labels) and
    scales it so that its expected share of a squared distance is ``shares[i]`` whatever its
    dimension (by ``sqrt(share / dim)``); :meth:`transform` applies the same to queries.
    """

    def __init__(self, shares: Sequence[float]):
        shares = [float(s) for s in shares]
        if not shares or any(not s >= 0 for s in shares) or sum(shares) <= 0:
            raise ParameterError(f"shares must be >= 0 and not all 0, got {shares}")
        self.shares = shares
        self.mean_: list[np.ndarray] = []
        self.scale_: list[np.ndarray] = []

    def fit(self, blocks: Sequence[np.ndarray]) -> JointSpace:
        blocks = self._check(blocks)
        if len(blocks[0]) == 0:
            raise ParameterError("a joint space of no rows")
        total = sum(self.shares)
        self.mean_, self.scale_ = [], []
        for x, share in zip(blocks, self.shares, strict=True):
            std = x.std(axis=0)
            self.mean_.append(x.mean(axis=0))
            self.scale_.append(np.sqrt(share / (total * x.shape[1])) / np.where(std > 0, std, 1.0))
        return self

    def transform(self, blocks: Sequence[np.ndarray]) -> np.ndarray:
        """``[n, sum of dims]`` float64 rows of the joint space."""
        if not self.mean_:
            raise ParameterError("fit the joint space first")
        blocks = self._check(blocks)
        for x, m in zip(blocks, self.mean_, strict=True):
            if x.shape[1] != m.shape[0]:
                raise ParameterError(f"a block of {x.shape[1]} dimensions, fitted on {m.shape[0]}")
        return np.concatenate(
            [(x - m) * s for x, m, s in zip(blocks, self.mean_, self.scale_, strict=True)], axis=1
        )

    def _check(self, blocks: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(blocks) != len(self.shares):
            raise ParameterError(f"{len(blocks)} blocks for {len(self.shares)} shares")
        out = [np.asarray(b, dtype=np.float64) for b in blocks]
        n = len(out[0])
        for x in out:
            if x.ndim != 2 or len(x) != n:
                raise ParameterError(f"a block of shape {x.shape} beside {n} rows")
        return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true neighbours found.

    Parameters
    ----------
    found, truth : np.ndarray [shape=(m, k)], int ids (``-1`` entries never match)

    Returns
    -------
    float in [0, 1]
    """
    found = np.asarray(found)
    truth = np.asarray(truth)
    if found.shape[0] != truth.shape[0] or truth.shape[1] == 0:
        raise ParameterError(f"recall_at_k: shapes {found.shape} and {truth.shape} do not match")
    hits = sum(len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


class NearestNeighbors:
    """k-nearest-neighbour search over embeddings (Euclidean), exact or approximate by size.

    Parameters
    ----------
    exact_threshold : int or None
        Libraries with fewer entries are searched exactly; from this size on an approximate
        faiss IVF index is used. ``None``: always exact. ``0``: always approximate.
    seed : int
        Seeds the k-means of the approximate index and the calibration sample.
    target_recall : float in (0, 1]
        recall@10 (against exact search, on a sample of the library at build time) that the
        approximate index is calibrated to reach.

    Attributes
    ----------
    exact : bool, nlist : int or None (IVF cells), nprobe : int or None (cells visited),
    build_seconds : dict (``train``, ``add``, ``calibrate``, ``total`` of an IVF build)

    Examples
    --------
    >>> nn = NearestNeighbors().fit(embeddings)            # doctest: +SKIP
    >>> ids, dist = nn.query(embeddings[:3], k=5, exclude=[0, 1, 2])  # doctest: +SKIP
    """

    def __init__(
        self, *, exact_threshold: int | None = 20000, seed: int = 0, target_recall: float = 0.98
    ) -> None:
        if exact_threshold is not None and (
            not isinstance(exact_threshold, int | np.integer) or exact_threshold < 0
        ):
            raise ParameterError(
                f"exact_threshold must be None or an integer >= 0, got {exact_threshold!r}"
            )
        if not isinstance(seed, int | np.integer):
            raise ParameterError(f"seed must be an integer, got {seed!r}")
        if not (isinstance(target_recall, int | float) and 0 < target_recall <= 1):
            raise ParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
        self.exact_threshold = None if exact_threshold is None else int(exact_threshold)
        self.seed = int(seed)
        self.target_recall = float(target_recall)
        self._data: np.ndarray | None = None  # [n, d] float32, for the float64 re-measure
        self._sq_max = 0.0  # largest squared norm of an entry
        self._index = None  # faiss IndexFlatL2 or IndexIVFFlat
        self.nprobe: int | None = None
        self.build_seconds: dict[str, float] = {}

    def __len__(self) -> int:
        return 0 if self._data is None else len(self._data)

    def __repr__(self) -> str:
        kind = "exact" if self.exact else f"IVF{self.nlist}, nprobe={self.nprobe}"
        dim = None if self._data is None else self._data.shape[1]
        return f"NearestNeighbors({len(self)} x {dim}, {kind})"

    @property
    def exact(self) -> bool:
        """True when queries are answered by exact search (fewer entries than the threshold)."""
        return self.nprobe is None

    @property
    def nlist(self) -> int | None:
        """Number of IVF cells (``None`` when exact)."""
        return None if self.exact else int(self._index.nlist)

    def fit(self, embeddings: np.ndarray) -> NearestNeighbors:
        """Index ``embeddings`` ``[n, d]`` (finite); entry ids are ``0..n-1``. Returns self."""
        x = self._as_matrix(embeddings, "embeddings", dim=None)
        if isinstance(embeddings, np.ndarray) and np.may_share_memory(x, embeddings):
            x = x.copy()  # the caller's array may change later
        n, d = x.shape
        if n == 0:
            raise ParameterError("cannot fit on an empty set of embeddings")
        self._data, self._sq_max = x, float(np.einsum("ij,ij->i", x, x).max())
        self.nprobe, self.build_seconds = None, {}
        if self.exact_threshold is None or n < self.exact_threshold:
            if n * d > _NUMPY_EXACT_MAX:  # else numpy measures every entry (no faiss import)
                import faiss

                self._index = faiss.IndexFlatL2(d)
                self._index.add(x)
            return self
        import faiss

        t0 = time.perf_counter()
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, max(1, min(round(math.sqrt(n)), n // 39)))
        index.cp.seed = self.seed
        index.cp.niter = _KMEANS_ITERS
        index.cp.max_points_per_centroid = _MAX_POINTS_PER_CELL
        index.cp.min_points_per_centroid = 1  # silence faiss's "too few points" warning
        index.train(x)
        t1 = time.perf_counter()
        index.add(x)
        t2 = time.perf_counter()
        self._index, self.nprobe = index, index.nlist
        self.nprobe = self._calibrate()
        t3 = time.perf_counter()
        self.build_seconds = {
            "train": t1 - t0,
            "add": t2 - t1,
            "calibrate": t3 - t2,
            "total": t3 - t0,
        }
        log.info(
            "approximate index: %d entries, %d cells, nprobe %d (built in %.1f s)",
            n,
            index.nlist,
            self.nprobe,
            t3 - t0,
        )
        return self

    def _calibrate(self) -> int:
        """Smallest nprobe whose recall@10 on a library sample reaches ``target_recall``."""
        n, nlist = len(self), int(self._index.nlist)
        k = min(_CAL_K, n - 1)
        if k < 1 or nlist == 1:
            return nlist
        rng = np.random.default_rng(self.seed)
        own = np.sort(rng.choice(n, size=min(_CAL_QUERIES, n), replace=False))
        q, excl = self._data[own], [np.array([i]) for i in own]
        nearest = _blas_knn(self._data, q, k + 1)  # exact; then drop each query's own entry
        truth = np.take_along_axis(
            nearest, np.argsort(nearest == own[:, None], axis=1, kind="stable")[:, :k], axis=1
        )

        def recall(nprobe: int) -> float:
            return recall_at_k(self._search(q, k, excl, nprobe)[0], truth)

        lo, hi = 0, 1  # recall(lo) < target <= recall(hi) after the doubling
        while hi < nlist and recall(hi) < self.target_recall:
            lo, hi = hi, min(2 * hi, nlist)
        while hi - lo > max(1, hi // 8):  # to within 1/8: each probe of a big nprobe is costly
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if recall(mid) >= self.target_recall else (mid, hi)
        return hi

    def query(
        self, targets: np.ndarray, k: int, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest entries of each target, nearest first.

        Parameters
        ----------
        targets : np.ndarray [shape=(m, d) or (d,)]
        k : int >= 1
            Clipped to the number of entries left after exclusion (``min(k, n - excluded)``,
            the same for every row), so no row is ever padded.
        exclude : None, or ids to leave out per query: an array ``[m]`` (one id per query,
            e.g. the query's own entry), ``[m, e]`` (``-1`` = none), or a sequence of ``m``
            id lists. For a single ``(d,)`` target, a scalar or one list of ids.

        Returns
        -------
        ids : np.ndarray [shape=(m, k)], int64
        distances : np.ndarray [shape=(m, k)], float32
            Euclidean (not squared), ascending; equal distances ordered by ascending id.
        """
        if self._data is None:
            raise ParameterError("the index is empty: call fit(embeddings) first")
        single = np.ndim(targets) == 1
        q = self._as_matrix(
            np.atleast_2d(targets) if single else targets, "targets", dim=self._data.shape[1]
        )
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k must be an integer >= 1, got {k!r}")
        n, m = len(self), q.shape[0]
        excl = _exclude_sets(exclude, m, single)
        k = min(int(k), n - max((np.count_nonzero(e < n) for e in excl if e.size), default=0))
        if k < 1 or m == 0:
            return np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32)
        ids, d2 = self._search(q, k, excl, self.nprobe)
        return ids, np.sqrt(d2).astype(np.float32)

    def _search(
        self, q: np.ndarray, k: int, excl: list[np.ndarray], nprobe: int | None, fetch: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and float64 squared distances (ties by id); ``nprobe=None``: exact.

        Rows whose answer is not certain yet (exact: an entry not fetched might still be
        nearer than the k-th, given float32 rounding; IVF: the cells visited held fewer than
        ``k`` usable entries) are searched again, fetching or probing more.
        """
        n, d = self._data.shape
        if self._index is None:
            return self._numpy_search(q, k, excl)
        import faiss

        fetch = fetch or min(n, (k if nprobe else 2 * k) + max((e.size for e in excl), default=0))
        step = max(1, _BLOCK_BYTES // (8 * d * fetch))
        if len(q) > step:
            parts = [
                self._search(q[s : s + step], k, excl[s : s + step], nprobe, fetch)
                for s in range(0, len(q), step)
            ]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        params = None if nprobe is None else faiss.SearchParametersIVF(nprobe=nprobe)
        dist, lab = self._index.search(q, fetch, params=params)
        for r, e in enumerate(excl):
            if e.size:
                lab[r, np.isin(lab[r], e)] = -1
        diff = self._data[np.maximum(lab, 0)] - q[:, None, :].astype(np.float64)
        d2 = np.where(lab >= 0, np.einsum("mcj,mcj->mc", diff, diff), np.inf)
        rows = np.arange(len(q))[:, None]
        order = np.lexsort((lab, d2), axis=-1)[:, :k]
        ids, d2 = lab[rows, order], d2[rows, order]
        if nprobe is None:  # |float32 D - d2| <= h: unfetched entries lie beyond D_last - h
            h = 2 * (d + 2) * _EPS32 * (np.square(q).sum(axis=1) + self._sq_max)
            redo = np.zeros(len(q), bool) if fetch == n else dist[:, -1] - h <= d2[:, -1]
            wider = nprobe, min(n, 4 * fetch)
        else:
            redo = (ids[:, -1] < 0) & (nprobe < self._index.nlist)
            wider = min(2 * nprobe, int(self._index.nlist)), fetch
        if redo.any():
            again = [excl[i] for i in np.flatnonzero(redo)]
            ids[redo], d2[redo] = self._search(q[redo], k, again, *wider)
        return ids, d2

    def _numpy_search(
        self, q: np.ndarray, k: int, excl: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search of a small library: every entry measured in float64, ties by id."""
        n, d = self._data.shape
        step = max(1, _BLOCK_BYTES // (8 * d * n))
        ids_out, d2_out = [], []
        ids = np.arange(n)
        for s in range(0, len(q), step):
            diff = self._data[None, :, :] - q[s : s + step, None, :].astype(np.float64)
            d2 = np.einsum("mnj,mnj->mn", diff, diff)
            for r, e in enumerate(excl[s : s + step]):
                if e.size:
                    d2[r, e[e < n]] = np.inf
            order = np.lexsort((np.broadcast_to(ids, d2.shape), d2), axis=-1)[:, :k]
            ids_out.append(order)
            d2_out.append(np.take_along_axis(d2, order, axis=1))
        return np.concatenate(ids_out).astype(np.int64), np.concatenate(d2_out)

    @staticmethod
    def _as_matrix(x: Any, name: str, *, dim: int | None) -> np.ndarray:
        try:
            a = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"{name}: not a numeric array ({e})") from e
        if a.ndim != 2:
            raise ParameterError(f"{name} must have shape [n, d], got {a.shape}")
        if a.shape[1] == 0:
            raise ParameterError(f"{name} has dimension 0")
        if dim is not None and a.shape[1] != dim:
            raise ParameterError(
                f"{name} have dimension {a.shape[1]}, the index holds dimension {dim}"
            )
        if not np.all(np.isfinite(a)):
            raise ParameterError(f"{name} contain NaN or infinite values")
        return np.ascontiguousarray(a)


def _blas_knn(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Ids of the ``k`` nearest rows of ``x`` per query, by float32 BLAS in blocks of queries.

    (faiss searches fewer than ``128000 / d`` queries one by one, streaming ``x`` once per
    query: about 2x slower for the few hundred queries of a calibration.)
    """
    sq, out = np.einsum("ij,ij->i", x, x), []
    for s in range(0, len(q), 32):
        d2 = q[s : s + 32] @ x.T
        d2 *= -2
        d2 += sq
        for row, kth in zip(d2, np.partition(d2, k - 1, axis=1)[:, k - 1], strict=True):
            near = np.flatnonzero(row <= kth)
            out.append(near[np.argsort(row[near], kind="stable")[:k]])
    return np.array(out)


def _exclude_sets(exclude: Any, m: int, single: bool) -> list[np.ndarray]:
    """One array of ids to leave out per query."""
    if exclude is None:
        return [np.zeros(0, np.int64)] * m
    if single:
        return [_id_array(exclude)]
    if isinstance(exclude, np.ndarray) and exclude.ndim in (1, 2) or _is_flat_ints(exclude):
        a = np.asarray(exclude)
        a = a[:, None] if a.ndim == 1 else a
        if a.shape[0] != m:
            raise ParameterError(
                f"exclude must give ids for each of the {m} queries, got shape {np.shape(exclude)}"
            )
        return [_id_array(row) for row in a]
    if not isinstance(exclude, Sequence) or len(exclude) != m:
        raise ParameterError(f"exclude must be None, an array [m] or [m, e], or {m} id lists")
    return [_id_array(e) for e in exclude]


def _is_flat_ints(x: Any) -> bool:
    return (
        isinstance(x, Sequence)
        and not isinstance(x, str)
        and all(isinstance(v, int | np.integer) for v in x)
    )


def _id_array(x: Any) -> np.ndarray:
    """Sorted unique ids ``>= 0`` (``-1`` pads an ``[m, e]`` array)."""
    a = np.asarray(x).reshape(-1)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ParameterError(f"exclude: ids must be integers, got {a.dtype}")
    return np.unique(a[a >= 0].astype(np.int64))
