"""Near-duplicate and identical samples in a library: groups to review, never deleted.

Two kinds of groups:

* ``"identical"``: files whose bytes are the same (equal size, then equal SHA-256), found
  without the model. Only files of equal size are hashed.
* ``"near"``: library entries closer than ``threshold`` in latent space (Euclidean), found
  with the library index's k-nearest-neighbour search (each entry's nearest few, more for
  entries in a dense cluster of duplicates), never by comparing all pairs. Entries closer
  than the threshold are linked and each connected set of links is one group (single
  linkage). Links between entries of the same file (segments of one take) are left out
  unless ``within_file=True``; with ``exact=True`` so are links between byte-identical
  files at the same onset, which are the ``"identical"`` groups already.

The default threshold is derived from the library's own distances: ``DEFAULT_FRACTION``
(0.005, i.e. 1/200) times the median distance between two entries (all pairs, or 50 000
random pairs of a large library). That median is the typical distance between two different
sounds in this library and this model's latent space, and it stays put however many
duplicates the library holds (nearest-neighbour distances do not: in a library where most
sounds have a twin, as in General MIDI sound fonts reusing one sample across kits and
velocities, their median is itself a duplicate distance). Copies, re-encodes, gain changes,
resampling and one-sample shifts land within 1/200 of it (``bench/duplicates.py``). The
median nearest-neighbour distance is reported too (``nn_median``).

Each group's members are ordered with the one to keep first: the shortest file name (copies
are usually named ``kick (1).wav``, ``kick_copy.wav``), then the path. Nothing here moves,
changes or deletes a file; :func:`write_report` writes the groups with a "keep" mark to a CSV
or JSON file for the user to act on.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samplevae.errors import ParameterError, SampleVAEError
from samplevae.io import atomic_write_text, sha256_file

__all__ = [
    "DuplicateGroup",
    "DuplicateReport",
    "find_duplicates",
    "default_threshold",
    "write_report",
    "DEFAULT_FRACTION",
]

#: Default threshold = this fraction of the median distance between two library entries.
DEFAULT_FRACTION = 0.005
_MAX_PAIRS = 50_000  # random pairs the median distance is measured on
_K0 = 4  # neighbours fetched per entry in the first pass
_K_MAX = 256  # an entry with more duplicates than this is linked through its neighbours


@dataclass
class DuplicateGroup:
    """Entries (or files) that are duplicates of each other; the first is the one to keep.

    Attributes
    ----------
    kind : ``"identical"`` (same bytes) or ``"near"`` (closer than the threshold in latent space)
    paths : list of str, the file of each member (as the library names it)
    onsets : list of float, seconds into the file where each member starts
    ids : list of int, library entry ids (identical files: each file's first entry; -1 if the
        file has no entry, e.g. it failed to embed)
    distances : list of float, latent distance of each member to the first (0 for the first)
    max_distance : float, largest distance between two linked members
    sha256 : the shared hash (identical groups), else None
    """

    kind: str
    paths: list[str]
    onsets: list[float]
    ids: list[int]
    distances: list[float]
    max_distance: float
    sha256: str | None = None

    @property
    def keep(self) -> str:
        """The file to keep (the first member)."""
        return self.paths[0]

    def __len__(self) -> int:
        return len(self.paths)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DuplicateReport:
    """The result of :func:`find_duplicates`: groups, the threshold used and how it was set."""

    groups: list[DuplicateGroup]
    threshold: float
    threshold_rule: str
    entries: int
    files: int
    nn_median: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def identical(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.kind == "identical"]

    @property
    def near(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.kind == "near"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "entries": self.entries,
            "files": self.files,
            "nn_median": self.nn_median,
            "seconds": self.seconds,
            "groups": [g.to_dict() for g in self.groups],
        }


def default_threshold(
    embeddings: np.ndarray,
    fraction: float = DEFAULT_FRACTION,
    *,
    max_pairs: int = _MAX_PAIRS,
    seed: int = 0,
) -> tuple[float, float]:
    """The default near-duplicate threshold and the scale it comes from.

    Returns ``(fraction * scale, scale)`` where ``scale`` is the median distance between two
    entries of the library: over all pairs when there are at most ``max_pairs``, else over
    ``max_pairs`` random pairs (seeded, so the same library gives the same threshold).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = len(x)
    if n < 2:
        return 0.0, 0.0
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(n, size=max_pairs)
        j = rng.integers(n - 1, size=max_pairs)
        j += j >= i
    d = np.concatenate(
        [
            np.sqrt(((x[i[s : s + 8192]] - x[j[s : s + 8192]]) ** 2).sum(axis=1))
            for s in range(0, i.size, 8192)
        ]
    )
    scale = float(np.median(d))
    return float(fraction * scale), scale


def find_duplicates(
    library,
    threshold: float | None = None,
    *,
    exact: bool = True,
    within_file: bool = False,
    fraction: float = DEFAULT_FRACTION,
    progress: bool = False,
) -> DuplicateReport:
    """Groups of duplicate samples in ``library`` (a :class:`samplevae.library.Library`).

    Parameters
    ----------
    library : Library (``paths``, ``onsets``, ``embeddings``, ``search``)
    threshold : latent distance below which two entries are near-duplicates; ``None``: the
        default rule, ``fraction`` x the median distance between two entries of the library
    exact : also find byte-identical files (hashing only files of equal size)
    within_file : also link segments of the same file (a take repeating one hit)
    fraction : of the median distance between two entries, for the default threshold
    progress : show a progress bar while hashing files of equal size

    Returns
    -------
    DuplicateReport : ``groups`` (identical ones first, then near ones by size), the
        threshold and the rule that set it. Nothing is moved, changed or deleted.
    """
    import time

    if threshold is not None and not (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and np.isfinite(threshold)
        and threshold >= 0
    ):
        raise ParameterError(f"threshold must be a distance >= 0, got {threshold!r}")
    if not (isinstance(fraction, int | float) and 0 < fraction <= 10):
        raise ParameterError(f"fraction must be in (0, 10], got {fraction!r}")
    n = len(library)
    paths = list(library.paths)
    onsets = np.asarray(library.onsets, dtype=np.float64)
    files = list(dict.fromkeys(paths))
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    identical: list[DuplicateGroup] = []
    twin_of: dict[str, str] = {}  # file -> the first file with the same bytes
    if exact:
        first_entry = {}
        for i, p in enumerate(paths):
            first_entry.setdefault(p, i)
        for digest, group in _identical_files(files, progress):
            group = sorted(group, key=_keep_order)
            for p in group:
                twin_of[p] = group[0]
            identical.append(
                DuplicateGroup(
                    "identical",
                    group,
                    [0.0] * len(group),
                    [int(first_entry.get(p, -1)) for p in group],
                    [0.0] * len(group),
                    0.0,
                    digest,
                )
            )
    identical.sort(key=lambda g: g.paths[0])
    seconds["hash"] = time.perf_counter() - t0

    if n < 2:
        thr = float(threshold or 0.0)
        return DuplicateReport(
            identical,
            thr,
            "given" if threshold is not None else "default",
            n,
            len(files),
            None,
            seconds,
        )

    t0 = time.perf_counter()
    file_id = _codes(paths)  # numbered in the order of `files`
    # Searching without `exclude` and masking an entry's own file here is ~3x faster than
    # per-query exclusion lists; fetch enough to see _K0 entries of other files.
    per_file = int(np.bincount(file_id).max())
    k = min(n, _K0 + 1 + (0 if within_file else min(per_file - 1, 63)))
    ids, dist = _neighbours(library, np.arange(n), k, file_id, within_file)
    seconds["search"] = time.perf_counter() - t0
    nn = dist[:, 0][np.isfinite(dist[:, 0])]
    nn_median = float(np.median(nn)) if nn.size else None
    if threshold is None:
        thr, scale = default_threshold(library.embeddings, fraction)
        rule = f"{fraction:g} x the median distance between two entries ({scale:.4g})"
    else:
        thr, rule = float(threshold), "given"

    t0 = time.perf_counter()
    # rows whose last fetched neighbour is still within the threshold: fetch more of them
    reach = dist.max(axis=1, initial=0.0, where=np.isfinite(dist))
    more = np.flatnonzero(reach < thr) if k < n else np.zeros(0, np.int64)
    while more.size and k < n:
        k = min(4 * k, _K_MAX + per_file, n)
        ids2, dist2 = _neighbours(library, more, k, file_id, within_file)
        pad = k - ids.shape[1]
        ids = np.concatenate([ids, np.full((n, pad), -1, ids.dtype)], axis=1)
        dist = np.concatenate([dist, np.full((n, pad), np.inf, dist.dtype)], axis=1)
        ids[more], dist[more] = ids2, dist2
        if k >= _K_MAX + per_file:
            break
        reach = dist2.max(axis=1, initial=0.0, where=np.isfinite(dist2))
        more = more[reach < thr]
    rows, cols = np.nonzero((dist < thr) & (ids >= 0))
    a, b = rows, ids[rows, cols]
    if twin_of:  # identical files at the same onset are reported as "identical" already
        pos = {p: j for j, p in enumerate(files)}
        twin = np.array([pos[twin_of[p]] if p in twin_of else -1 for p in files])
        ta, tb = twin[file_id[a]], twin[file_id[b]]
        same = (ta >= 0) & (ta == tb) & (onsets[a] == onsets[b])
        a, b = a[~same], b[~same]
    near = _components(n, a, b)
    emb = np.asarray(library.embeddings, dtype=np.float64)
    groups = []
    for members in near:
        members = sorted(members, key=lambda i: (*_keep_order(paths[i]), onsets[i]))
        ref = emb[members[0]]
        d = np.sqrt(((emb[members] - ref) ** 2).sum(axis=1))
        sub = emb[members]
        link = (
            np.sqrt(((sub[:, None] - sub[None]) ** 2).sum(axis=-1))
            if len(members) <= 512
            else d[None]
        )
        link = link[link < thr]
        groups.append(
            DuplicateGroup(
                "near",
                [paths[i] for i in members],
                [float(onsets[i]) for i in members],
                [int(i) for i in members],
                [float(x) for x in d],
                float(link.max()) if link.size else 0.0,
            )
        )
    groups.sort(key=lambda g: (-len(g), g.paths[0], g.onsets[0]))
    seconds["group"] = time.perf_counter() - t0
    return DuplicateReport(identical + groups, thr, rule, n, len(files), nn_median, seconds)


def write_report(report: DuplicateReport, path: str | Path) -> Path:
    """Write the groups to ``path`` (``.csv`` or ``.json``, atomically) with a "keep" mark on
    each group's first member. Only the report is written; no sample is touched.

    CSV columns: ``group, kind, keep, path, onset, distance, sha256`` (one row per member).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ParameterError(f"report {path}: the name must end in .csv or .json")
    sources = {os.path.realpath(p) for g in report.groups for p in g.paths}
    if os.path.realpath(path) in sources:
        raise SampleVAEError(f"report {path} would overwrite a sample of the library")
    if suffix == ".json":
        data = report.to_dict()
        for g in data["groups"]:
            g["keep"] = [j == 0 for j in range(len(g["paths"]))]
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return path
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["group", "kind", "keep", "path", "onset", "distance", "sha256"])
    for gi, g in enumerate(report.groups, 1):
        for j, (p, o, d) in enumerate(zip(g.paths, g.onsets, g.distances, strict=True)):
            w.writerow(
                [gi, g.kind, "keep" if j == 0 else "", p, f"{o:.6f}", f"{d:.6g}", g.sha256 or ""]
            )
    atomic_write_text(path, buf.getvalue())
    return path


# --- internals ---------------------------------------------------------------------------


def _keep_order(path: str) -> tuple[int, str]:
    return len(os.path.basename(path)), path


def _codes(paths: list[str]) -> np.ndarray:
    index: dict[str, int] = {}
    return np.array([index.setdefault(p, len(index)) for p in paths], dtype=np.int64)


def _neighbours(
    library, rows: np.ndarray, k: int, file_id: np.ndarray, within_file: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest entries of ``rows`` (itself, and its own file's entries unless
    ``within_file``, masked as id -1 at distance inf)."""
    ids, dist = library.search(library.embeddings[rows], k)
    dist = dist.astype(np.float64)
    own = ids == rows[:, None]
    if not within_file:
        own |= file_id[np.maximum(ids, 0)] == file_id[rows][:, None]
    own |= ids < 0
    ids = np.where(own, -1, ids)
    dist = np.where(own, np.inf, dist)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(ids, order, 1), np.take_along_axis(dist, order, 1)


def _identical_files(files: list[str], progress: bool = False) -> list[tuple[str, list[str]]]:
    """``(sha256, files)`` for each set of two or more files with the same bytes."""
    by_size: dict[int, list[str]] = defaultdict(list)
    for p in files:
        try:
            by_size[os.stat(p).st_size].append(p)
        except OSError:
            continue  # gone since the library was opened: nothing to compare
    from tqdm.auto import tqdm

    todo = [g for g in by_size.values() if len(g) > 1]
    by_hash: dict[tuple[int, str], list[str]] = defaultdict(list)
    bar = tqdm(total=sum(map(len, todo)), desc="hashing", unit="file", disable=not progress)
    with bar:
        for gi, same_size in enumerate(todo):
            for p in same_size:
                try:
                    by_hash[gi, sha256_file(p)].append(p)
                except OSError:
                    pass  # unreadable now: nothing to compare
                bar.update()
    return [(h, g) for (_, h), g in by_hash.items() if len(g) > 1]


def _components(n: int, a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """Connected sets (of two or more) of the graph with edges ``a[i] - b[i]``."""
    if a.size == 0:
        return []
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
    _, label = connected_components(g, directed=True, connection="weak")
    linked = np.unique(np.concatenate([a, b]))
    by_label: dict[int, list[int]] = defaultdict(list)
    for i in linked:
        by_label[int(label[i])].append(int(i))
    return [m for m in by_label.values() if len(m) > 1]
