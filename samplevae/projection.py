"""2-D maps of embeddings (UMAP, or PCA for tiny sets): :func:`project_2d`.

Used by ``samplevae map`` (:mod:`samplevae.htmlmap`); it is the projection of the
``LatentMap`` widget, kept here so that ``samplevae`` needs no widget code.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Projection", "project_2d", "PALETTE", "MIN_UMAP_POINTS"]

#: Below this many points UMAP is meaningless and PCA is used.
MIN_UMAP_POINTS = 5
PALETTE = (  # colours of the folders (plotly/d3 category20)
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)


@dataclass
class Projection:
    """A fitted 2-D projection of embeddings.

    Attributes
    ----------
    xy : np.ndarray [shape=(n, 2)], float32 map coordinates of the fitted points
    method : "umap" or "pca"
    note : how the map was made (shown in the widget)
    """

    xy: np.ndarray
    method: str
    note: str = ""
    _index: object = field(default=None, repr=False)
    _mean: np.ndarray | None = field(default=None, repr=False)
    _components: np.ndarray | None = field(default=None, repr=False)

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Map coordinates ``[m, 2]`` of new embeddings ``[m, latent_dim]``.

        PCA projects them; on a UMAP map a new point is placed at the inverse-distance
        weighted mean of its (up to) 5 nearest fitted points — at a fitted point when it
        coincides with one. (umap-learn's own ``transform`` costs a numba compilation and
        moves with each call; this is instant and deterministic.)
        """
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if self.method == "pca":
            return ((z - self._mean) @ self._components.T).astype(np.float32)
        ids, dist = self._index.query(z, min(5, len(self.xy)))
        w = 1.0 / (dist.astype(np.float64) + 1e-6)
        exact = dist[:, :1] < 1e-6
        w = np.where(exact, np.eye(ids.shape[1])[0], w)  # a fitted point maps onto itself
        w /= w.sum(axis=1, keepdims=True)
        return (w[:, :, None] * self.xy[ids]).sum(axis=1).astype(np.float32)


def _pca(emb: np.ndarray, note: str) -> Projection:
    mean = emb.mean(axis=0)
    centred = emb - mean
    comps = np.zeros((2, emb.shape[1]), dtype=np.float32)
    if len(emb) > 1:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        k = min(2, vt.shape[0])
        comps[:k] = vt[:k]
    return Projection((centred @ comps.T).astype(np.float32), "pca", note, None, mean, comps)


def project_2d(embeddings: np.ndarray, *, method: str = "umap", seed: int = 0) -> Projection:
    """Project embeddings to 2-D for display.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, latent_dim)]
    method : "umap" (umap-learn; PCA for fewer than 5 points) or "pca"
    seed : random state of UMAP (the same seed gives the same map)

    Returns
    -------
    Projection

    Notes
    -----
    UMAP gets ``n_neighbors = min(15, n - 1)`` neighbours from the project's exact
    nearest-neighbour search (:class:`samplevae.search.NearestNeighbors`; approximate above
    20 000 points) instead of its own, which saves most of umap-learn's numba compilation.
    The first UMAP of a process still compiles for about 10 s.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise ValueError(f"need embeddings [n, latent_dim] with n >= 1, got shape {emb.shape}")
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}")
    n = len(emb)
    if method == "pca":
        return _pca(emb, "PCA (as requested)")
    if n < MIN_UMAP_POINTS:
        return _pca(emb, f"PCA: UMAP needs at least {MIN_UMAP_POINTS} points, got {n}")
    import umap  # imports TensorFlow (parametric UMAP) if it is not loaded yet

    from samplevae.search import NearestNeighbors

    k = max(2, min(15, n - 1))
    index = NearestNeighbors().fit(emb)
    knn_ids, knn_dist = index.query(emb, k)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=k,
        min_dist=0.1,
        init="random" if n < 100 else "spectral",
        random_state=seed,
        n_jobs=1,
        precomputed_knn=(knn_ids.astype(np.int32), knn_dist.astype(np.float32), None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; no search index
        xy = reducer.fit_transform(emb)
    return Projection(np.asarray(xy, dtype=np.float32), "umap", f"UMAP, {k} neighbours", index)
