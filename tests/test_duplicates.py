"""Near-duplicate and identical samples: planted copies, re-encodes, gain changes and shifts
are grouped, distinct sounds are not, the default threshold follows its rule, the search
scales through the index, nothing is touched, and the report and CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from samplevae.duplicates import DEFAULT_FRACTION, default_threshold, find_duplicates, write_report
from samplevae.errors import ParameterError
from samplevae.library import Library


def _lib(emb, paths=None, onsets=None, exact_threshold=20000):
    n = len(emb)
    paths = paths or [f"/lib/s{i:05d}.wav" for i in range(n)]
    return Library(
        ["/lib"],
        paths,
        np.zeros(n) if onsets is None else onsets,
        emb,
        [],
        None,
        exact_threshold=exact_threshold,
    )


def _clustered(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((20, d))
    return (centers[rng.integers(20, size=n)] + rng.standard_normal((n, d))).astype(np.float32)


def _pairs(report):
    out = set()
    for g in report.near:
        out |= {(a, b) for a in g.ids for b in g.ids if a < b}
    return out


# --- on embeddings (no model) ------------------------------------------------------------------


def test_planted_near_duplicates_are_grouped_and_nothing_else():
    rng = np.random.default_rng(1)
    x = _clustered(2000)
    src = np.arange(0, 50)
    x[1950:] = x[src] + 0.01 * rng.standard_normal((50, x.shape[1])).astype(np.float32)
    report = find_duplicates(_lib(x), exact=False)
    assert _pairs(report) == {(int(s), int(s) + 1950) for s in src}
    g = report.near[0]
    assert g.distances[0] == 0.0 and 0 < g.distances[1] < report.threshold
    assert g.max_distance == pytest.approx(g.distances[1], rel=1e-5)


def test_default_threshold_is_the_documented_fraction_of_the_median_pair_distance():
    x = _clustered(300)
    report = find_duplicates(_lib(x), exact=False)
    d = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
    median_pair = np.median(d[np.triu_indices(len(x), 1)])
    assert report.threshold == pytest.approx(DEFAULT_FRACTION * median_pair, rel=1e-6)
    assert "median distance between two entries" in report.threshold_rule
    np.fill_diagonal(d, np.inf)
    assert report.nn_median == pytest.approx(np.median(d.min(axis=1)), rel=1e-5)
    assert report.near == []  # distinct sounds are not near-duplicates of each other
    # a given threshold is used as given: everything within it is grouped
    wide = find_duplicates(_lib(x), threshold=float(np.percentile(d.min(axis=1), 50)), exact=False)
    close = {(i, j) for i, j in zip(*np.nonzero(d < wide.threshold), strict=True) if i < j}
    assert close and close <= _pairs(wide) and wide.threshold_rule == "given"


def test_default_threshold_ignores_how_many_duplicates_there_are():
    """Most sounds with a twin (as in sound fonts reusing samples): the nearest-neighbour
    distances are all duplicate distances, the pair distances are not."""
    rng = np.random.default_rng(4)
    x = _clustered(200)
    twins = x + 0.01 * rng.standard_normal(x.shape).astype(np.float32)
    report = find_duplicates(_lib(np.concatenate([x, twins])), exact=False)
    assert _pairs(report) == {(i, i + 200) for i in range(200)}
    # the same sample of pairs of a large library gives the same threshold every time
    big = _clustered(2000)
    t1, scale = default_threshold(big)
    assert t1 == default_threshold(big)[0] and t1 == pytest.approx(DEFAULT_FRACTION * scale)


def test_a_dense_cluster_of_many_copies_is_one_group():
    x = _clustered(300)
    x[200:240] = x[7]  # 41 identical embeddings: more than the first k-NN pass fetches
    report = find_duplicates(_lib(x), exact=False)
    big = report.near[0]
    assert sorted(big.ids) == [7, *range(200, 240)]
    assert big.max_distance == 0.0


def test_segments_of_one_file_are_not_duplicates_unless_asked():
    x = _clustered(100)
    x[1] = x[0]  # two segments of file a: a loop repeating one hit
    x[51] = x[50] + 1e-3  # two different files
    paths = ["/lib/a.wav", "/lib/a.wav"] + [f"/lib/s{i}.wav" for i in range(2, 100)]
    report = find_duplicates(_lib(x, paths, onsets=np.r_[0.0, 0.5, np.zeros(98)]), exact=False)
    assert _pairs(report) == {(50, 51)}
    report = find_duplicates(
        _lib(x, paths, onsets=np.r_[0.0, 0.5, np.zeros(98)]),
        exact=False,
        within_file=True,
        threshold=report.threshold,
    )
    assert _pairs(report) == {(0, 1), (50, 51)}


def test_large_library_goes_through_the_approximate_index():
    rng = np.random.default_rng(3)
    x = _clustered(6000, d=16)
    x[5900:] = x[:100] + 0.01 * rng.standard_normal((100, 16)).astype(np.float32)
    lib = _lib(x, exact_threshold=1000)
    report = find_duplicates(lib)
    assert not lib.index.exact
    want = {(i, i + 5900) for i in range(100)}
    assert len(_pairs(report) & want) >= 98 and len(_pairs(report) - want) <= 2


def test_bad_threshold_is_refused():
    with pytest.raises(ParameterError, match="threshold"):
        find_duplicates(_lib(_clustered(10)), threshold=-1.0)
    with pytest.raises(ParameterError, match="threshold"):
        find_duplicates(_lib(_clustered(10)), threshold=float("nan"))


# --- files: identical, planted variants, report, CLI ---------------------------------------------


@pytest.fixture(scope="module")
def dup_library(kit_dir, tmp_path_factory):
    """The kit with planted duplicates: an identical copy, a 24-bit re-encode, a -6 dB copy and
    a one-sample shift, each of a different original."""
    from samplevae.synth import DRUM_CLASSES

    out = tmp_path_factory.mktemp("duplib")
    for cls in DRUM_CLASSES:
        shutil.copytree(kit_dir / cls, out / cls)
    planted = {}

    def plant(src, name, change):
        y, sr = sf.read(out / src, dtype="float32")
        dest = out / "planted" / name
        dest.parent.mkdir(exist_ok=True)
        y, subtype = change(y)
        sf.write(dest, y, sr, subtype=subtype)
        planted[str(dest)] = str(out / src)

    shutil.copyfile(out / "kick" / "kick_003.wav", out / "kick" / "kick_003 (1).wav")
    planted[str(out / "kick" / "kick_003 (1).wav")] = str(out / "kick" / "kick_003.wav")
    plant("snare/snare_002.wav", "snare_24bit.wav", lambda y: (y, "PCM_24"))
    plant("tom_low/tom_low_004.wav", "tom_quiet.wav", lambda y: (0.5 * y, "PCM_16"))
    plant("clap/clap_001.wav", "clap_shift.wav", lambda y: (np.r_[0.0, y[:-1]], "PCM_16"))
    return out, planted


@pytest.fixture(scope="module")
def dup_tool(tiny_model_dir, dup_library):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, library_dir=dup_library[0], progress=False, workers=1)


def _snapshot(folder):
    return {p: (os.stat(p).st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*.wav"))}


def test_planted_duplicates_in_a_real_library(dup_tool, dup_library):
    folder, planted = dup_library
    before = _snapshot(folder)
    report = find_duplicates(dup_tool.library)
    assert _snapshot(folder) == before  # nothing moved, changed or deleted

    ident = report.identical
    assert len(ident) == 1 and ident[0].keep.endswith("kick_003.wav")
    assert [os.path.basename(p) for p in ident[0].paths] == ["kick_003.wav", "kick_003 (1).wav"]
    assert len(ident[0].sha256) == 64

    found = {frozenset(map(os.path.realpath, g.paths)) for g in report.near}
    for copy, orig in planted.items():
        if copy.endswith("(1).wav"):
            continue  # the identical pair is reported as identical, not again as near
        pair = {os.path.realpath(copy), os.path.realpath(orig)}
        assert any(pair <= g for g in found), f"{copy} not grouped with {orig}"
    in_groups = sum(len(g) for g in report.near)
    assert in_groups <= 2 * 3 + 2  # the three planted pairs, at most one stray pair

    no_hash = find_duplicates(dup_tool.library, exact=False)
    assert no_hash.identical == []
    assert any(
        {os.path.basename(p) for p in g.paths} == {"kick_003.wav", "kick_003 (1).wav"}
        for g in no_hash.near
    )


def test_report_marks_the_first_member_to_keep(dup_tool, dup_library, tmp_path):
    report = find_duplicates(dup_tool.library)
    rows = list(csv.DictReader(open(write_report(report, tmp_path / "dups.csv"))))
    assert len(rows) == sum(len(g) for g in report.groups)
    for gi, g in enumerate(report.groups, 1):
        mine = [r for r in rows if int(r["group"]) == gi]
        assert [r["path"] for r in mine] == g.paths
        assert [r["keep"] for r in mine] == ["keep"] + [""] * (len(g) - 1)
        assert all(r["kind"] == g.kind for r in mine)
    data = json.loads(write_report(report, tmp_path / "dups.json").read_text())
    assert data["threshold"] == report.threshold
    assert [g["keep"] for g in data["groups"]] == [
        [True] + [False] * (len(g) - 1) for g in report.groups
    ]
    with pytest.raises(ParameterError, match=r"\.csv or \.json"):
        write_report(report, tmp_path / "dups.txt")


def test_cli_duplicates(dup_tool, tiny_model_dir, dup_library, tmp_path, capsys):
    from samplevae.cli import main

    folder, _ = dup_library
    before = _snapshot(folder)
    args = [
        "duplicates",
        "--logdir",
        str(tiny_model_dir),
        "--library",
        str(folder),
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main([*args, "--json", "--report", str(tmp_path / "r.csv")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {g["kind"] for g in data["groups"]} == {"identical", "near"}
    assert (tmp_path / "r.csv").is_file()
    assert main([*args, "--threshold", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 group(s) of identical files, 0 group(s) of near-duplicates" in out
    assert "keep" in out and "kick_003 (1).wav" in out
    assert _snapshot(folder) == before


def test_tool_methods_wrap_the_library_tools(dup_tool, dup_library, tmp_path):
    """``tool.find_duplicates()`` gives the same groups as the function on its library, and
    ``tool.export(tool.find_similar(...))`` writes a kit of those results."""
    direct = find_duplicates(dup_tool.library)
    via_tool = dup_tool.find_duplicates()
    assert [g.paths for g in via_tool.groups] == [g.paths for g in direct.groups]
    assert via_tool.threshold == direct.threshold
    folder, planted = dup_library
    target = next(iter(planted.values()))
    similar = dup_tool.find_similar(target, 3, display=False)
    kit = dup_tool.export(similar, tmp_path / "kit", format="sfz", name="near")
    written = sorted(p.name for p in (tmp_path / "kit").rglob("*.wav"))
    assert len(written) == 3
    sfz = next((tmp_path / "kit").glob("*.sfz")).read_text()
    assert all(name in sfz for name in written)
    assert kit is not None
