"""Nearest-neighbour search over latent embeddings: exact for small libraries, an
approximate faiss index above a size threshold.

The original searched by brute force in a Python loop (one ``np.linalg.norm`` per library
entry). Here:

* **Exact** (fewer than ``exact_threshold`` entries): squared distances for all entries by
  one BLAS product, then every candidate within the float32 rounding bound of the k-th is
  re-measured in float64 — the answer equals brute force in float64, ties ordered by id.
* **Approximate** (``exact_threshold`` entries or more): a faiss ``IndexIVFFlat`` with about
  ``sqrt(n)`` k-means cells. The number of cells visited per query (``nprobe``) is
  calibrated at build time on a sample of the library so that recall@10 against exact
  search reaches ``target_recall``. Candidates are re-measured in float64 like the exact
  path, so distances are exact and ties ordered by id there too.

Ids are stable: :meth:`NearestNeighbors.fit` numbers entries ``0..n-1`` (or takes given
ids), :meth:`~NearestNeighbors.add` hands out new ones and :meth:`~NearestNeighbors.remove`
deletes entries without renumbering the rest. Adds and removes go straight into the faiss
lists; the index is retrained only when the library has doubled or halved since it was
built, or crosses the threshold.

:meth:`~NearestNeighbors.save` writes one ``.npz`` (embeddings, ids, k-means centroids,
calibrated ``nprobe``; no pickles, no faiss binary format) atomically;
:meth:`~NearestNeighbors.load` validates it and refills the index from the centroids —
no k-means, no calibration, the same answers as before saving.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from samplevae.errors import ParameterError
from samplevae.io import atomic_save_npz

__all__ = ["NearestNeighbors", "recall_at_k"]

log = logging.getLogger(__name__)

_METRICS = ("euclidean", "cosine")
_FORMAT = "samplevae.search/1"
_CAL_QUERIES = 256        # library points used to calibrate nprobe
_CAL_K = 10               # calibrated for recall@10
_MAX_POINTS_PER_CELL = 64  # k-means training sample per centroid
_KMEANS_ITERS = 12
_BLOCK_BYTES = 128 << 20  # working memory of one block of exact distances
_EPS32 = float(np.finfo(np.float32).eps)


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
    """k-nearest-neighbour search over embeddings, exact or approximate by library size.

    Parameters
    ----------
    exact_threshold : int or None
        Libraries with fewer entries are searched exactly; from this size on an approximate
        faiss IVF index is used. ``None``: always exact. ``0``: always approximate.
    metric : {"euclidean", "cosine"}
        ``"euclidean"``: distances are ``||a - b||`` (not squared). ``"cosine"``: embeddings are
        compared by angle; distances are ``1 - cos(a, b)`` in [0, 2].
    seed : int
        Seeds the k-means of the approximate index and the calibration sample.
    target_recall : float in (0, 1]
        recall@10 (against exact search, measured on a sample of the library at build
        time) that the approximate index is calibrated to reach.

    Examples
    --------
    >>> nn = NearestNeighbors().fit(embeddings)            # doctest: +SKIP
    >>> ids, dist = nn.query(embeddings[:3], k=5, exclude=[0, 1, 2])  # doctest: +SKIP
    """

    def __init__(self, *, exact_threshold: int | None = 20000, metric: str = "euclidean",
                 seed: int = 0, target_recall: float = 0.98) -> None:
        if exact_threshold is not None and (
                not isinstance(exact_threshold, int | np.integer) or exact_threshold < 0):
            raise ParameterError(
                f"exact_threshold must be None or an integer >= 0, got {exact_threshold!r}")
        if metric not in _METRICS:
            raise ParameterError(f"metric must be one of {_METRICS}, got {metric!r}")
        if not isinstance(seed, int | np.integer):
            raise ParameterError(f"seed must be an integer, got {seed!r}")
        if not (isinstance(target_recall, int | float) and 0 < target_recall <= 1):
            raise ParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
        self.exact_threshold = None if exact_threshold is None else int(exact_threshold)
        self.metric = metric
        self.seed = int(seed)
        self.target_recall = float(target_recall)
        self._data: np.ndarray | None = None   # [n, d] float32, rows in id order
        self._ids = np.zeros(0, np.int64)      # [n], strictly increasing
        self._sq = np.zeros(0, np.float32)     # [n] squared norms
        self._next_id = 0
        self._index = None                     # faiss IndexIVFFlat when approximate
        self._built_n = 0                      # size when the IVF was trained
        self.nprobe: int | None = None
        self.build_seconds: dict[str, float] = {}

    # --- properties ----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._ids.size)

    def __repr__(self) -> str:
        kind = "exact" if self._index is None else f"IVF{self.nlist}, nprobe={self.nprobe}"
        return f"NearestNeighbors({len(self)} x {self.dim}, {self.metric}, {kind})"

    @property
    def dim(self) -> int | None:
        """Embedding dimension (``None`` before :meth:`fit`)."""
        return None if self._data is None else int(self._data.shape[1])

    @property
    def exact(self) -> bool:
        """True when queries are answered by exact search (fewer entries than the threshold)."""
        return self._index is None

    @property
    def ids(self) -> np.ndarray:
        """Ids of the entries, ascending ``[n]`` int64 (a copy)."""
        return self._ids.copy()

    @property
    def embeddings(self) -> np.ndarray:
        """The stored embeddings ``[n, d]`` float32 in :attr:`ids` order (normalised for cosine)."""
        if self._data is None:
            raise ParameterError("the index is empty: call fit(embeddings) first")
        return self._data.copy()

    @property
    def nlist(self) -> int | None:
        """Number of IVF cells (``None`` when exact)."""
        return None if self._index is None else int(self._index.nlist)

    # --- building ------------------------------------------------------------------------

    def fit(self, embeddings: np.ndarray, *, ids: np.ndarray | None = None) -> NearestNeighbors:
        """Index ``embeddings``.

        Parameters
        ----------
        embeddings : np.ndarray [shape=(n, d)], finite
        ids : np.ndarray [shape=(n,)] or None
            Unique non-negative integer ids; default ``0..n-1``.

        Returns
        -------
        self
        """
        x = self._as_matrix(embeddings, "embeddings", check_dim=False)
        if x.shape[0] == 0:
            raise ParameterError("cannot fit on an empty set of embeddings")
        new_ids = np.arange(x.shape[0], dtype=np.int64) if ids is None else self._check_new_ids(
            ids, x.shape[0], existing=None)
        order = np.argsort(new_ids, kind="stable")
        self._data = np.ascontiguousarray(x[order])
        self._ids = new_ids[order]
        self._sq = _sq_norms(self._data)
        self._next_id = int(self._ids[-1]) + 1
        self._index = None
        self._built_n = 0
        self.nprobe = None
        self._update_mode(force_rebuild=True)
        return self

    def add(self, new_embeddings: np.ndarray, *, ids: np.ndarray | None = None) -> np.ndarray:
        """Add entries; returns their ids ``[m]`` int64 (new ids follow the largest so far).

        On an empty (unfitted) object this is :meth:`fit`.
        """
        if self._data is None:
            x = self._as_matrix(new_embeddings, "new_embeddings", check_dim=False)
            self.fit(x, ids=ids)
            return self._ids.copy()
        x = self._as_matrix(new_embeddings, "new_embeddings")
        m = x.shape[0]
        if m == 0:
            return np.zeros(0, np.int64)
        if ids is None:
            new_ids = np.arange(self._next_id, self._next_id + m, dtype=np.int64)
        else:
            new_ids = self._check_new_ids(ids, m, existing=self._ids)
        data = np.concatenate([self._data, x])
        all_ids = np.concatenate([self._ids, new_ids])
        sq = np.concatenate([self._sq, _sq_norms(x)])
        if ids is not None and self._ids.size and new_ids.min() < self._ids[-1]:
            order = np.argsort(all_ids, kind="stable")
            data, all_ids, sq = data[order], all_ids[order], sq[order]
        self._data, self._ids, self._sq = np.ascontiguousarray(data), all_ids, sq
        self._next_id = max(self._next_id, int(new_ids.max()) + 1)
        if self._index is not None:
            self._index.add_with_ids(x, new_ids)
        self._update_mode()
        return new_ids

    def remove(self, ids: np.ndarray | Sequence[int]) -> int:
        """Delete entries by id; unknown ids are ignored. Returns how many were removed.

        Removing every entry leaves an empty index: :meth:`query` raises until :meth:`add`.
        """
        if self._data is None:
            raise ParameterError("the index is empty: call fit(embeddings) first")
        drop = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        mask = np.isin(self._ids, drop)
        count = int(mask.sum())
        if count == 0:
            return 0
        keep = ~mask
        if self._index is not None:
            self._index.remove_ids(self._ids[mask])
        self._data = np.ascontiguousarray(self._data[keep])
        self._ids = self._ids[keep]
        self._sq = self._sq[keep]
        self._update_mode()
        return count

    def rebuild(self) -> NearestNeighbors:
        """Retrain the approximate index (k-means and calibration) on the current entries."""
        self._require_fitted()
        self._update_mode(force_rebuild=True)
        return self

    def _update_mode(self, *, force_rebuild: bool = False) -> None:
        n = len(self)
        want_exact = self.exact_threshold is None or n < self.exact_threshold
        if want_exact or n == 0:
            if self._index is not None:
                log.debug("%d entries: back to exact search", n)
            self._index, self.nprobe, self._built_n = None, None, 0
            return
        drifted = self._index is not None and not (self._built_n / 2 <= n <= 2 * self._built_n)
        if force_rebuild or self._index is None or drifted:
            self._build_ivf()

    def _build_ivf(self, centroids: np.ndarray | None = None, nprobe: int | None = None) -> None:
        import faiss

        n, d = self._data.shape
        if centroids is None:
            nlist = max(1, min(int(round(math.sqrt(n))), n // 39))
        else:
            nlist = centroids.shape[0] if centroids.ndim == 2 else 0
            if centroids.shape != (nlist, d) or not 1 <= nlist <= n \
                    or not np.all(np.isfinite(centroids)):
                raise ParameterError(f"saved centroids have shape {centroids.shape}: need "
                                     f"[1..{n}, {d}] finite values")
        t0 = time.perf_counter()
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        if centroids is None:
            index.cp.seed = self.seed
            index.cp.niter = _KMEANS_ITERS
            index.cp.max_points_per_centroid = _MAX_POINTS_PER_CELL
            index.cp.min_points_per_centroid = 1  # silence faiss's "too few points" warning
            index.train(self._data)
        else:
            quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
            index.is_trained = True
        t1 = time.perf_counter()
        index.add_with_ids(self._data, self._ids)
        t2 = time.perf_counter()
        self._index, self._built_n = index, n
        self.nprobe = nlist if nprobe is None else int(min(max(nprobe, 1), nlist))
        if nprobe is None:
            self.nprobe = self._calibrate()
        t3 = time.perf_counter()
        self.build_seconds = {"train": t1 - t0, "add": t2 - t1, "calibrate": t3 - t2,
                              "total": t3 - t0}
        log.info("approximate index: %d entries, %d cells, nprobe %d (built in %.1f s)",
                 n, nlist, self.nprobe, t3 - t0)

    def _calibrate(self) -> int:
        """Smallest nprobe whose recall@10 on a library sample reaches ``target_recall``."""
        n = len(self)
        nlist = int(self._index.nlist)
        k = min(_CAL_K, n - 1)
        if k < 1 or nlist == 1:
            return nlist
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(n, size=min(_CAL_QUERIES, n), replace=False))
        q = self._data[rows]
        own = self._ids[rows]
        truth, _ = self._exact_search(q, k, [np.array([i]) for i in own])

        def recall(nprobe: int) -> float:
            _, found = self._search_ivf(q, k + 1, nprobe)
            found = np.where(found == own[:, None], -1, found)
            return recall_at_k(found, truth)

        lo, hi = 0, 1  # recall(lo) < target <= recall(hi) after the doubling
        while hi < nlist and recall(hi) < self.target_recall:
            lo, hi = hi, min(2 * hi, nlist)
        while hi - lo > max(1, hi // 8):  # to within 1/8: each probe of a big nprobe is costly
            mid = (lo + hi) // 2
            if recall(mid) >= self.target_recall:
                hi = mid
            else:
                lo = mid
        return hi

    # --- querying ------------------------------------------------------------------------

    def query(self, targets: np.ndarray, k: int, exclude: Any = None
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
            Euclidean (not squared) or cosine distances, ascending; equal distances
            ordered by ascending id.
        """
        self._require_fitted()
        single = np.ndim(targets) == 1
        q = self._as_matrix(np.atleast_2d(targets) if single else targets, "targets")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k must be an integer >= 1, got {k!r}")
        m = q.shape[0]
        excl = self._exclude_sets(exclude, m, single)
        present = [self._rows_of(e).size for e in excl]
        k_eff = min(int(k), len(self) - max(present, default=0))
        if k_eff < 1 or m == 0:
            return np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32)
        if k_eff < k:
            log.debug("k=%d clipped to %d (entries left after exclusion)", k, k_eff)
        if self._index is None:
            ids, d2 = self._exact_search(q, k_eff, excl)
        else:
            ids, d2 = self._approx_search(q, k_eff, excl)
        dist = d2 / 2 if self.metric == "cosine" else np.sqrt(d2)
        return ids, dist.astype(np.float32)

    def _exact_search(self, q: np.ndarray, k: int, excl: list[np.ndarray]
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k ids and float64 squared distances (ties by id)."""
        n, d = self._data.shape
        m = q.shape[0]
        out_ids = np.empty((m, k), np.int64)
        out_d2 = np.empty((m, k), np.float64)
        q_sq = _sq_norms(q)
        # |fl(d2) - d2| <= (d + 2) eps (|q|^2 + |x|^2) for the expansion in float32
        tol_base = 2.0 * (d + 4) * _EPS32
        x_sq_max = float(self._sq.max())
        block = max(1, min(m, _BLOCK_BYTES // (4 * n)))
        for s in range(0, m, block):
            qb = q[s:s + block]
            approx = qb @ self._data.T
            approx *= -2.0
            approx += self._sq[None, :]
            approx += q_sq[s:s + block, None]
            for r in range(qb.shape[0]):
                i = s + r
                row = approx[r]
                if excl[i].size:
                    row[self._rows_of(excl[i])] = np.inf
                kth = np.partition(row, k - 1)[k - 1]
                tol = tol_base * (float(q_sq[i]) + x_sq_max)
                cand = np.flatnonzero(row <= kth + tol)
                out_ids[i], out_d2[i] = self._refine(q[i], cand, k)
        return out_ids, out_d2

    def _approx_search(self, q: np.ndarray, k: int, excl: list[np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
        m = q.shape[0]
        out_ids = np.empty((m, k), np.int64)
        out_d2 = np.empty((m, k), np.float64)
        fetch = min(len(self), k + max((e.size for e in excl), default=0))
        nprobe = self.nprobe
        todo = np.arange(m)
        while todo.size:
            _, labels = self._search_ivf(q[todo], fetch, nprobe)
            valid = labels >= 0
            for r, i in enumerate(todo):
                if excl[i].size:
                    valid[r] &= ~np.isin(labels[r], excl[i])
            # rows whose probed cells held too few entries are searched again, probing more
            short = (valid.sum(axis=1) < k) & (nprobe < self._index.nlist)
            done = ~short
            if done.any():
                lab = np.where(valid[done], labels[done], 0)
                rows = np.searchsorted(self._ids, lab)
                diff = self._data[rows].astype(np.float64) - q[todo[done], None, :]
                d2 = np.einsum("mcj,mcj->mc", diff, diff)
                d2[~valid[done]] = np.inf
                order = np.lexsort((lab, d2), axis=-1)[:, :k]
                out_ids[todo[done]] = np.take_along_axis(lab, order, axis=1)
                out_d2[todo[done]] = np.take_along_axis(d2, order, axis=1)
            todo = todo[short]
            nprobe = min(2 * nprobe, self._index.nlist)
        return out_ids, out_d2

    def _search_ivf(self, q: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        return self._index.search(q, k, params=faiss.SearchParametersIVF(nprobe=int(nprobe)))

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of those ``ids`` (sorted, unique) that are in the index."""
        pos = np.searchsorted(self._ids, ids)
        ok = pos < len(self)
        ok[ok] = self._ids[pos[ok]] == ids[ok]
        return pos[ok]

    def _refine(self, qi: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Re-measure candidate rows in float64; the k nearest, ties by id."""
        diff = self._data[rows].astype(np.float64) - qi.astype(np.float64)
        d2 = np.einsum("ij,ij->i", diff, diff)
        ids = self._ids[rows]
        order = np.lexsort((ids, d2))[:k]
        return ids[order], d2[order]

    # --- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the index to one ``.npz`` file, atomically (no pickles).

        Holds the embeddings, ids, settings and — when approximate — the IVF centroids and
        calibrated ``nprobe``, so :meth:`load` skips k-means and calibration.
        """
        self._require_fitted()
        path = Path(path)
        meta = {"format": _FORMAT, "exact_threshold": self.exact_threshold,
                "metric": self.metric, "seed": self.seed, "target_recall": self.target_recall,
                "next_id": self._next_id, "nprobe": self.nprobe, "built_n": self._built_n}
        arrays = {"embeddings": self._data, "ids": self._ids,
                  "meta": np.array(json.dumps(meta))}
        if self._index is not None:
            arrays["centroids"] = self._index.quantizer.reconstruct_n(0, self._index.nlist)
        atomic_save_npz(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> NearestNeighbors:
        """Read an index written by :meth:`save` (validated; never unpickles).

        Raises
        ------
        ParameterError
            The file is missing, unreadable, not a saved index, or inconsistent.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError) as e:
            raise ParameterError(f"{path}: cannot read a saved index ({e})") from e
        try:
            meta = json.loads(str(arrays["meta"][()]))
            if meta.get("format") != _FORMAT:
                raise ParameterError(f"{path}: not a saved index (format {meta.get('format')!r})")
            nn = cls(exact_threshold=meta["exact_threshold"], metric=meta["metric"],
                     seed=meta["seed"], target_recall=meta["target_recall"])
            data, ids = arrays["embeddings"], arrays["ids"]
            if data.ndim != 2 or data.dtype != np.float32 or ids.shape != (data.shape[0],) \
                    or ids.dtype != np.int64 or data.shape[0] == 0:
                raise ParameterError(f"{path}: embeddings/ids have wrong shapes or types")
            if not np.all(np.isfinite(data)) or np.any(ids < 0) or np.any(np.diff(ids) <= 0):
                raise ParameterError(f"{path}: embeddings not finite or ids not increasing")
            nn._data, nn._ids = np.ascontiguousarray(data), ids
            nn._sq = _sq_norms(data)
            nn._next_id = max(int(meta["next_id"]), int(ids[-1]) + 1)
            want_exact = nn.exact_threshold is None or len(nn) < nn.exact_threshold
            if not want_exact:
                if "centroids" in arrays and meta.get("nprobe") and meta.get("built_n"):
                    nn._build_ivf(centroids=arrays["centroids"], nprobe=int(meta["nprobe"]))
                    nn._built_n = int(meta["built_n"])
                else:
                    nn._build_ivf()
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ParameterError(f"{path}: not a saved index ({e!r})") from e
        return nn

    # --- validation helpers --------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self._data is None:
            raise ParameterError("the index is empty: call fit(embeddings) first")
        if len(self) == 0:
            raise ParameterError("the index is empty: every entry was removed; add() some first")

    def _as_matrix(self, x: Any, name: str, *, check_dim: bool = True) -> np.ndarray:
        try:
            a = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"{name}: not a numeric array ({e})") from e
        if a.ndim != 2:
            raise ParameterError(f"{name} must have shape [n, d], got {a.shape}")
        if a.shape[1] == 0:
            raise ParameterError(f"{name} has dimension 0")
        if check_dim and a.shape[1] != self.dim:
            raise ParameterError(
                f"{name} have dimension {a.shape[1]}, the index holds dimension {self.dim}")
        if not np.all(np.isfinite(a)):
            raise ParameterError(f"{name} contain NaN or infinite values")
        if self.metric == "cosine" and a.shape[0]:
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            if np.any(norms == 0):
                raise ParameterError(f"{name}: zero vectors have no direction (cosine metric)")
            a = a / norms
        return np.ascontiguousarray(a, dtype=np.float32)

    def _check_new_ids(self, ids: Any, m: int, existing: np.ndarray | None) -> np.ndarray:
        a = np.asarray(ids)
        if a.shape != (m,) or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
            raise ParameterError(f"ids must be {m} integers, got shape {a.shape} ({a.dtype})")
        a = a.astype(np.int64)
        if np.any(a < 0):
            raise ParameterError("ids must be >= 0")
        if np.unique(a).size != m:
            raise ParameterError("ids must be unique")
        if existing is not None and np.isin(a, existing).any():
            raise ParameterError(f"ids already in the index: {a[np.isin(a, existing)][:5]}")
        return a

    def _exclude_sets(self, exclude: Any, m: int, single: bool) -> list[np.ndarray]:
        """One sorted unique int64 array of ids per query."""
        empty = np.zeros(0, np.int64)
        if exclude is None:
            return [empty] * m
        if single:
            return [_id_array(exclude)]
        if isinstance(exclude, np.ndarray) and exclude.ndim in (1, 2) or _is_flat_ints(exclude):
            a = np.asarray(exclude)
            if a.ndim == 1:
                a = a[:, None]
            if a.shape[0] != m:
                raise ParameterError(f"exclude must give ids for each of the {m} queries, "
                                     f"got shape {np.shape(exclude)}")
            return [_id_array(row[row >= 0]) for row in a]
        if not isinstance(exclude, Sequence) or len(exclude) != m:
            raise ParameterError(f"exclude must be None, an array [m] or [m, e], or {m} id lists")
        return [_id_array(e) for e in exclude]


def _is_flat_ints(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, str) and all(
        isinstance(v, int | np.integer) for v in x)


def _id_array(x: Any) -> np.ndarray:
    a = np.asarray(x).reshape(-1)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ParameterError(f"exclude: ids must be integers, got {a.dtype}")
    return np.unique(a.astype(np.int64))


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x, dtype=np.float32)
