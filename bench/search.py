"""Benchmark: nearest-neighbour search over 64-d embeddings, exact vs approximate index,
against the original's brute-force Python loop.

For 10k, 100k and 1M library entries, on two data sets:

* ``clustered``: a Gaussian mixture of 300 components with random rotations and
  anisotropic scales (a few strong directions, many weak; uneven cluster sizes) — the
  shape of VAE embeddings of a sample library;
* ``iid``: standard normal in 64-d, the worst case for any index (no structure), shown for
  honesty.

Queries are 1000 held-out points of the same distribution (not library entries). Latency
is per single query (``query(q, k=10)``, as a user's ``find_similar`` does), median and
95th percentile, on one thread (a single query gains nothing from more; builds use all
cores). recall@10 is measured against exact search. The Python loop is the
original's method (one ``np.linalg.norm`` per entry, then a sort), timed at 10k and 100k and
extrapolated to 1M from its measured per-entry cost.

Run::

    .venv/bin/python bench/search.py               # the full table, ~5-10 min on 2 cores
    .venv/bin/python bench/search.py --sizes 10000 --data clustered   # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samplevae.search import NearestNeighbors, recall_at_k  # noqa: E402

D = 64
K = 10


def clustered(n: int, n_queries: int, seed: int = 0, n_comp: int = 300):
    """Library ``[n, 64]`` and held-out queries from an anisotropic Gaussian mixture."""
    rng = np.random.default_rng(seed)
    scale = np.exp(-np.arange(D) / (D / 3))  # a few strong directions, many weak
    centers = rng.standard_normal((n_comp, D)) * scale
    weights = rng.dirichlet(np.full(n_comp, 0.5))  # uneven cluster sizes
    comp = rng.choice(n_comp, size=n + n_queries, p=weights)
    x = np.empty((n + n_queries, D), np.float32)
    for c in range(n_comp):
        idx = np.flatnonzero(comp == c)
        if idx.size == 0:
            continue
        rot, _ = np.linalg.qr(rng.standard_normal((D, D)))
        local = np.exp(rng.uniform(np.log(0.05), np.log(1.0), D))
        x[idx] = centers[c] + ((rng.standard_normal((idx.size, D)) * local) @ rot.T) * scale
    return x[:n], x[n:]


def iid(n: int, n_queries: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_queries, D), dtype=np.float32)
    return x[:n], x[n:]


def python_loop_search(library: dict[int, np.ndarray], target: np.ndarray, k: int):
    """The original's method: a Python loop over every entry, then a sort."""
    distances = []
    for key, emb in library.items():
        distances.append((float(np.linalg.norm(emb - target)), key))
    distances.sort()
    return distances[:k]


@contextlib.contextmanager
def one_thread():
    """BLAS and faiss's OpenMP on one thread: a single query gains nothing from a second
    thread, and on a busy machine waiting for one makes latencies erratic."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - comes with scikit-learn (umap-learn)
            yield
        else:
            with threadpool_limits(1, user_api="blas"):
                yield
    finally:
        faiss.omp_set_num_threads(before)


def latencies(fn, queries: np.ndarray) -> np.ndarray:
    with one_thread():
        for q in queries[:3]:  # warm up
            fn(q)
        out = np.empty(len(queries))
        for i, q in enumerate(queries):
            t = time.perf_counter()
            fn(q)
            out[i] = time.perf_counter() - t
    return out * 1e3  # ms


def run_size(name: str, n: int, n_queries: int, loop_cost: dict) -> list[dict]:
    rows = []
    gen = clustered if name == "clustered" else iid
    t0 = time.perf_counter()
    data, queries = gen(n, n_queries)
    print(f"[{name} n={n:,}] data made in {time.perf_counter() - t0:.1f} s", flush=True)

    exact = NearestNeighbors(exact_threshold=None).fit(data)
    t = time.perf_counter()
    truth, _ = exact.query(queries, K)
    batch_ms = (time.perf_counter() - t) / n_queries * 1e3
    n_lat = 200 if n <= 100_000 else 50
    lat = latencies(lambda q: exact.query(q, K), queries[:n_lat])
    rows.append(
        dict(
            data=name,
            n=n,
            method="exact (faiss IndexFlatL2 + float64 re-rank)",
            build_s=0.0,
            median_ms=float(np.median(lat)),
            p95_ms=float(np.percentile(lat, 95)),
            batch_ms_per_query=batch_ms,
            recall=1.0,
            queries=n_lat,
        )
    )
    print(f"  exact: median {np.median(lat):.2f} ms", flush=True)
    exact = None  # free its copy of the data

    t = time.perf_counter()
    approx = NearestNeighbors(exact_threshold=0).fit(data)
    build = time.perf_counter() - t
    found, _ = approx.query(queries, K)
    recall = recall_at_k(found, truth)
    lat = latencies(lambda q: approx.query(q, K), queries)
    t = time.perf_counter()
    approx.query(queries, K)
    batch_ms = (time.perf_counter() - t) / n_queries * 1e3
    parts = approx.build_seconds
    rows.append(
        dict(
            data=name,
            n=n,
            method=f"IVF{approx.nlist}, nprobe={approx.nprobe}",
            build_s=build,
            build_parts={k: round(v, 2) for k, v in parts.items()},
            median_ms=float(np.median(lat)),
            p95_ms=float(np.percentile(lat, 95)),
            batch_ms_per_query=batch_ms,
            recall=recall,
            queries=n_queries,
        )
    )
    print(
        f"  IVF: build {build:.1f} s ({parts}), median {np.median(lat):.3f} ms, "
        f"recall@10 {recall:.4f}",
        flush=True,
    )
    approx = None

    if name == "clustered":  # the loop's cost does not depend on the data
        if n <= 100_000:
            library = {i: data[i] for i in range(n)}
            reps = 20 if n <= 10_000 else 3
            lat = latencies(lambda q: python_loop_search(library, q, K), queries[:reps])
            loop_cost["per_entry_ms"] = float(np.median(lat)) / n
            rows.append(
                dict(
                    data=name,
                    n=n,
                    method="Python loop (original), measured",
                    build_s=0.0,
                    median_ms=float(np.median(lat)),
                    p95_ms=float(np.percentile(lat, 95)),
                    recall=1.0,
                    queries=reps,
                )
            )
        else:
            est = loop_cost["per_entry_ms"] * n
            rows.append(
                dict(
                    data=name,
                    n=n,
                    method="Python loop (original), extrapolated",
                    build_s=0.0,
                    median_ms=est,
                    p95_ms=float("nan"),
                    recall=1.0,
                    queries=0,
                )
            )
        print(f"  python loop: {rows[-1]['median_ms']:.1f} ms", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--data", nargs="+", default=["clustered", "iid"], choices=["clustered", "iid"])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()

    import faiss

    load0 = os.getloadavg()
    t_all = time.perf_counter()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy "
        f"{np.__version__}, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads), "
        f"load average {load0[0]:.1f}",
        flush=True,
    )
    rows: list[dict] = []
    loop_cost: dict = {}
    for name in args.data:
        for n in sorted(args.sizes):
            rows.extend(run_size(name, n, args.queries, loop_cost))
    load1 = os.getloadavg()

    loops = {r["n"]: r["median_ms"] for r in rows if r["method"].startswith("Python")}
    print()
    print(
        f"k={K}, 64-d float32, {args.queries} held-out queries; latency = one query at a "
        "time on one thread; builds use all cores"
    )
    header = (
        "| data | entries | method | build (s) | median (ms) | p95 (ms) | recall@10 "
        "| speed-up vs Python loop |"
    )
    print(header)
    print("|" + "---|" * 8)
    for r in rows:
        loop = loops.get(r["n"])
        speed = (
            ""
            if loop is None or r["method"].startswith("Python")
            else f"{loop / r['median_ms']:,.0f}x"
        )
        p95 = "" if np.isnan(r["p95_ms"]) else f"{r['p95_ms']:.3f}"
        print(
            f"| {r['data']} | {r['n']:,} | {r['method']} | {r['build_s']:.1f} | "
            f"{r['median_ms']:.3f} | {p95} | {r['recall']:.3f} | {speed} |"
        )
    print(
        "\nbuild time breakdown (s): "
        + "; ".join(
            f"{r['data']} {r['n']:,}: {r['build_parts']}" for r in rows if "build_parts" in r
        )
    )
    print(
        f"total {time.perf_counter() - t_all:.0f} s; load average {load0[0]:.1f} at start, "
        f"{load1[0]:.1f} at end (2-core machine shared with other jobs)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
