"""Nearest-neighbour search: exact equals brute force, the approximate index keeps recall,
a query's own entries can be left out, and every bad input is refused clearly."""

from __future__ import annotations

import numpy as np
import pytest

from samplevae.errors import ParameterError
from samplevae.search import NearestNeighbors, recall_at_k


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def brute_force(data, queries, k, exclude=None):
    """The reference: float64 distances to every entry, stable sort (ties by id)."""
    data = data.astype(np.float64)
    d = np.stack([np.sqrt(((data - q) ** 2).sum(-1)) for q in queries.astype(np.float64)])
    if exclude is not None:
        for i, ex in enumerate(exclude):
            d[i, ex] = np.inf
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(d, ids, axis=1)


def brute_force_fast(data, queries, k, exclude=None):
    """Reference ids for recall: float64 BLAS distances (no exact-tie guarantees needed)."""
    data = data.astype(np.float64)
    queries = queries.astype(np.float64)
    d2 = (queries**2).sum(1)[:, None] - 2 * queries @ data.T + (data**2).sum(1)[None]
    if exclude is not None:
        for i, ex in enumerate(exclude):
            d2[i, ex] = np.inf
    return np.argsort(d2, axis=1)[:, :k]


def clustered(n, d=64, n_comp=100, seed=0):
    """Gaussian mixture with anisotropic, rotated components (like VAE embeddings)."""
    rng = np.random.default_rng(seed)
    scale = np.exp(-np.arange(d) / (d / 3))
    centers = rng.standard_normal((n_comp, d)) * scale
    comp = rng.choice(n_comp, size=n, p=rng.dirichlet(np.full(n_comp, 0.5)))
    x = np.empty((n, d), np.float32)
    for c in range(n_comp):
        idx = np.flatnonzero(comp == c)
        rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
        local = np.exp(rng.uniform(np.log(0.05), np.log(1.0), d))
        x[idx] = centers[c] + ((rng.standard_normal((idx.size, d)) * local) @ rot.T) * scale
    return x


# --- exact search --------------------------------------------------------------------------


@pytest.mark.parametrize("n, d, k", [(1, 4, 1), (50, 3, 5), (2000, 16, 10), (5000, 64, 25)])
def test_exact_equals_brute_force(rng, n, d, k):
    data = rng.standard_normal((n, d)).astype(np.float32)
    queries = rng.standard_normal((37, d)).astype(np.float32)
    nn = NearestNeighbors().fit(data)
    assert nn.exact
    ids, dist = nn.query(queries, k)
    ref_ids, ref_dist = brute_force(data, queries, min(k, n))
    assert ids.dtype == np.int64 and dist.dtype == np.float32
    assert ids.shape == dist.shape == (37, min(k, n))
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6, atol=1e-6)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_exact_large_offset_still_exact(rng):
    # far from the origin the float32 expansion |q|^2 - 2 q.x + |x|^2 loses digits;
    # the float64 re-measurement must still give the brute-force order
    data = (rng.standard_normal((3000, 8)) * 0.01 + 300).astype(np.float32)
    queries = (rng.standard_normal((20, 8)) * 0.01 + 300).astype(np.float32)
    ids, _ = NearestNeighbors().fit(data).query(queries, 5)
    np.testing.assert_array_equal(ids, brute_force(data, queries, 5)[0])
    # a batch large enough that faiss takes its BLAS path (|q|^2 + |x|^2 - 2 q.x) too
    data = (rng.standard_normal((500, 64)) * 0.01 + 300).astype(np.float32)
    queries = (rng.standard_normal((2000, 64)) * 0.01 + 300).astype(np.float32)
    ids, _ = NearestNeighbors().fit(data).query(queries, 3)
    np.testing.assert_array_equal(ids, brute_force(data, queries, 3)[0])


def test_ties_are_ordered_by_id_and_deterministic(rng):
    base = rng.standard_normal((20, 8)).astype(np.float32)
    data = np.repeat(base, 4, axis=0)  # every vector 4 times: ids 4i..4i+3 coincide
    nn = NearestNeighbors().fit(data)
    ids, dist = nn.query(base[3], 6)
    np.testing.assert_array_equal(ids[0, :4], [12, 13, 14, 15])
    assert np.all(dist[0, :4] == 0)
    assert ids[0, 4] < ids[0, 5] and dist[0, 4] == dist[0, 5]  # next duplicate group, by id
    again, _ = nn.query(base[3], 6)
    np.testing.assert_array_equal(ids, again)


def test_single_target_and_exclude_forms(rng):
    data = rng.standard_normal((100, 6)).astype(np.float32)
    nn = NearestNeighbors().fit(data)
    ids, dist = nn.query(data[7], 3)
    assert ids.shape == (1, 3) and ids[0, 0] == 7 and dist[0, 0] == 0
    assert 7 not in nn.query(data[7], 3, exclude=7)[0]
    assert not {7, 8} & set(nn.query(data[7], 3, exclude=[7, 8])[0][0])
    q = data[[1, 2, 3]]
    per_query = nn.query(q, 4, exclude=np.array([1, 2, 3]))[0]  # one id each
    assert not np.any(per_query == np.array([[1], [2], [3]]))
    padded = nn.query(q, 4, exclude=np.array([[1, -1], [2, 50], [3, -1]]))[0]
    assert not np.any(padded == np.array([[1], [2], [3]])) and 50 not in padded[1]
    ragged = nn.query(q, 4, exclude=[[1], [2, 3], np.array([], dtype=np.int64)])[0]
    assert 1 not in ragged[0] and not {2, 3} & set(ragged[1]) and ragged[2, 0] == 3
    # excluded ids equal brute force with those entries removed
    ref = brute_force(data, q, 4, exclude=[[1], [2, 3], []])[0]
    np.testing.assert_array_equal(ragged, ref)


def test_k_larger_than_n_is_clipped(rng):
    data = rng.standard_normal((5, 3)).astype(np.float32)
    nn = NearestNeighbors().fit(data)
    ids, dist = nn.query(data[:2], 10)
    assert ids.shape == (2, 5)
    assert sorted(ids[0]) == [0, 1, 2, 3, 4]
    ids, _ = nn.query(data[:2], 10, exclude=[0, 1])  # one left out per query -> 4 each
    assert ids.shape == (2, 4) and 0 not in ids[0] and 1 not in ids[1]
    ids, dist = nn.query(data[0], 3, exclude=[0, 1, 2, 3, 4])
    assert ids.shape == (1, 0) and dist.shape == (1, 0)


# --- approximate index ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def clustered_40k():
    """40k clustered 64-d embeddings, 200 held-out queries and the index (threshold lowered)."""
    x = clustered(40200, seed=1)
    data, queries = x[:40000], x[40000:]
    return data, queries, NearestNeighbors(exact_threshold=10000).fit(data)


def test_approximate_recall_on_clustered_data(clustered_40k):
    data, queries, nn = clustered_40k
    assert not nn.exact and nn.nlist > 1 and 1 <= nn.nprobe <= nn.nlist
    ids, dist = nn.query(queries, 10)
    truth = brute_force_fast(data, queries, 10)
    assert recall_at_k(ids, truth) >= 0.95
    # distances are exact for the entries returned, ascending
    exact_of_found = np.sqrt(((queries[:, None].astype(np.float64) - data[ids]) ** 2).sum(-1))
    np.testing.assert_allclose(dist, exact_of_found, rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_approximate_excludes_self(clustered_40k):
    data, _, nn = clustered_40k
    own = np.arange(0, 40000, 400)
    ids, dist = nn.query(data[own], 10, exclude=own)
    assert not np.any(ids == own[:, None])
    truth = brute_force_fast(data, data[own], 10, exclude=[[i] for i in own])
    assert recall_at_k(ids, truth) >= 0.95
    assert np.all(dist > 0)


def test_approximate_k_larger_than_probed_cells():
    # k larger than what nprobe cells hold: the search widens until k are found
    data = clustered(3000, d=8, seed=3)
    nn = NearestNeighbors(exact_threshold=100).fit(data)
    ids, dist = nn.query(data[:3], 2500)
    assert ids.shape == (3, 2500) and np.all(ids >= 0)
    assert all(len(set(row)) == 2500 for row in ids)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_threshold_chooses_exact_or_approximate(rng):
    data = rng.standard_normal((1000, 8)).astype(np.float32)
    assert NearestNeighbors(exact_threshold=1001).fit(data).exact
    assert NearestNeighbors(exact_threshold=None).fit(data).exact
    nn = NearestNeighbors(exact_threshold=1000).fit(data)
    assert not nn.exact and nn.nlist > 1 and set(nn.build_seconds) >= {"train", "total"}
    ids, dist = nn.query(data[5], 1)
    assert ids[0, 0] == 5 and dist[0, 0] == 0
    tiny = NearestNeighbors(exact_threshold=0).fit(data[:5])
    assert not tiny.exact
    np.testing.assert_array_equal(tiny.query(data[:5], 1)[0][:, 0], np.arange(5))


def test_fit_keeps_its_own_copy(rng):
    data = rng.standard_normal((50, 4)).astype(np.float32)
    nn = NearestNeighbors().fit(data)
    target = data[9].copy()
    data[:] = 0  # the caller reuses its array
    ids, dist = nn.query(target, 1)
    assert ids[0, 0] == 9 and dist[0, 0] == 0


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"exact_threshold": -1},
        {"exact_threshold": 2.5},
        {"seed": "x"},
        {"target_recall": 0.0},
        {"target_recall": 1.5},
    ],
)
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ParameterError):
        NearestNeighbors(**kwargs)


def test_bad_inputs_are_refused_clearly(rng):
    nn = NearestNeighbors()
    with pytest.raises(ParameterError, match="fit"):
        nn.query(np.zeros(4), 1)
    with pytest.raises(ParameterError, match="empty"):
        nn.fit(np.zeros((0, 4)))
    with pytest.raises(ParameterError, match=r"\[n, d\]"):
        nn.fit(np.zeros(4))
    with pytest.raises(ParameterError, match="NaN"):
        nn.fit(np.array([[0.0, np.nan]]))
    with pytest.raises(ParameterError, match="numeric"):
        nn.fit([["a", "b"]])
    nn.fit(rng.standard_normal((10, 4)))
    with pytest.raises(ParameterError, match="dimension 3.*dimension 4"):
        nn.query(np.zeros((2, 3)), 1)
    for k in (0, -1, 1.5, True, "3"):
        with pytest.raises(ParameterError, match="k must be"):
            nn.query(np.zeros(4), k)
    with pytest.raises(ParameterError, match="each of the 2 queries"):
        nn.query(np.zeros((2, 4)), 1, exclude=np.array([1, 2, 3]))
    with pytest.raises(ParameterError, match="integers"):
        nn.query(np.zeros(4), 1, exclude=[0.5])


def test_recall_at_k():
    assert recall_at_k(np.array([[1, 2], [3, 4]]), np.array([[2, 1], [3, 5]])) == 0.75
    assert recall_at_k(np.array([[-1, -1]]), np.array([[0, 1]])) == 0.0
