"""Datasets: bad input reported (never fatal, never random data), stratified splits, the feature
cache through make_dataset, the JSON manifest."""

from __future__ import annotations

import builtins
import errno
import json
import os
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import samplevae
from samplevae.audio import find_audio_files, load_audio, wav_bytes
from samplevae.dataset import (
    Dataset,
    Workspace,
    list_datasets,
    load_dataset,
    make_dataset,
    make_dataset_classifier,
    stratified_split,
)
from samplevae.errors import AudioLoadError, DatasetError
from samplevae.features import features
from samplevae.params import AudioParams

TINY = AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128)


def tone_wav(path: Path, freq: float = 440.0, sec: float = 0.2, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * sec)) / sr
    sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), sr)
    return path


def make_tree(root: Path, sizes: dict[str, int]) -> dict[str, list[Path]]:
    """root/<class>/<class>_NN.wav, tones of distinct pitch."""
    out = {}
    for ci, (name, n) in enumerate(sizes.items()):
        out[name] = [
            tone_wav(root / name / f"{name}_{i:02d}.wav", 100.0 + 50 * ci + 7 * i) for i in range(n)
        ]
    return out


def build(name, roots, ws, **kwargs):
    kwargs.setdefault("audio_params", TINY)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("workers", 1)
    return make_dataset(name, roots, workspace=ws, **kwargs)


# --- bad input --------------------------------------------------------------------------------
# Each maker writes one bad file (or link) at ``path`` and returns the path to expect in the report.


def _empty(path):
    path.write_bytes(b"")
    return path


def _header_only(path):
    path.write_bytes(wav_bytes(np.zeros(0), 16000))
    return path


def _truncated_header(path):
    path.write_bytes(wav_bytes(np.ones(1000) * 0.1, 16000)[:20])
    return path


def _text(path):
    path.write_text("this is a text file, not audio\n" * 20)
    return path


def _float_with(value):
    def make(path):
        x = (0.5 * np.sin(np.arange(4000) / 3)).astype(np.float32)
        x[1234] = value
        sf.write(path, x, 16000, subtype="FLOAT")
        return path

    return make


def _symlink_loop(path):
    other = path.with_name("loop_b.wav")
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    return path


def _self_link(path):
    os.symlink(path.name, path)
    return path


def _dangling(path):
    os.symlink("does_not_exist.wav", path)
    return path


BAD = [  # (case, maker, words of the reason)
    ("empty", _empty, "empty file"),
    ("header-only", _header_only, "no audio frames"),
    ("truncated-header", _truncated_header, "not a readable audio file"),
    ("text", _text, "not a readable audio file"),
    ("nan", _float_with(np.nan), "NaN or infinite"),
    ("inf", _float_with(np.inf), "NaN or infinite"),
    ("minus-inf", _float_with(-np.inf), "NaN or infinite"),
    ("symlink-loop", _symlink_loop, "symlink loop"),
    ("self-link", _self_link, "symlink loop"),
    ("dangling-link", _dangling, "dangling symlink"),
]


@pytest.mark.parametrize(("case", "maker", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_direct_load(tmp_path, case, maker, reason):
    path = maker(tmp_path / "bad.wav")
    with pytest.raises(AudioLoadError) as info:
        load_audio(path, TINY)
    assert reason.split()[0] in info.value.reason  # dangling links: "file not found (...)"
    assert info.value.path == str(path) and str(path) in str(info.value)


@pytest.mark.parametrize(("case", "maker", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_skipped_and_reported_by_make_dataset(tmp_path, case, maker, reason):
    root = tmp_path / "samples"
    good = make_tree(root, {"a": 3, "b": 3})
    bad = maker(root / "a" / "bad.wav")
    ws = Workspace(tmp_path / "ws")
    ds = build("d", root, ws, classes=True)
    # every good file is in, the bad one is not (never replaced by made-up data)
    assert sorted(e.path for e in ds.entries) == sorted(str(p) for p in sum(good.values(), []))
    skipped = {s.path: s.reason for s in ds.skipped}
    assert str(bad) in skipped and reason in skipped[str(bad)]
    summary = ds.summary()
    assert str(bad) in summary and reason in summary
    # the report is in the saved manifest too
    saved = json.loads(ws.dataset_path("d").read_text())
    assert {"path": str(bad), "reason": skipped[str(bad)]} in saved["skipped"]
    assert str(bad) not in {f["path"] for f in saved["files"]}


def test_silent_file_is_flagged_and_kept(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 2})
    silent = root / "a" / "silent.wav"
    sf.write(silent, np.zeros(3000), 16000)
    assert not np.any(load_audio(silent, TINY))
    ds = build("d", root, tmp_path / "ws", classes=True)
    entry = {e.path: e for e in ds.entries}[str(silent)]
    assert entry.silent and entry.label == "a"
    assert sum(e.silent for e in ds.entries) == 1
    assert not ds.skipped
    assert "1 silent file(s) kept" in ds.summary() and str(silent) in ds.summary()
    assert load_dataset("d", tmp_path / "ws").entries == ds.entries  # flag survives the manifest


@pytest.mark.parametrize(
    "name",
    [
        "kick drum 01.wav",
        "Grosse Trommel – Schlag ü.wav",
        "太鼓 サンプル.wav",
        "emoji 🥁.flac",
        "'quote\" & $dollar.wav",
    ],
)
def test_unicode_and_spaces_in_paths_load(tmp_path, name):
    folder = tmp_path / "my samples ✓" / "class ä"
    path = folder / name
    folder.mkdir(parents=True)
    sf.write(path, 0.5 * np.sin(np.arange(3200) / 4), 16000)
    y = load_audio(path, TINY)
    assert np.max(np.abs(y)) > 0.4
    tone_wav(folder / "plain.wav")
    ds = build("d", tmp_path / "my samples ✓", tmp_path / "ws", classes=True)
    assert str(path) in {e.path for e in ds.entries} and not ds.skipped
    assert ds.class_names == ["class ä"]
    again = load_dataset("d", tmp_path / "ws")
    X, y_, paths = again.load_features("train", progress=False, workers=1)
    assert len(paths) + len(again.split("valid")) == 2


def _deny_open(monkeypatch, target: Path):
    """Make every way of opening ``target`` fail with EACCES (as chmod 000 would for a user)."""
    real_open, real_os_open = builtins.open, os.open

    def is_target(file):
        return isinstance(file, str | bytes | os.PathLike) and os.fsdecode(file) == str(target)

    def fake_open(file, *args, **kwargs):
        if is_target(file):
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real_open(file, *args, **kwargs)

    def fake_os_open(file, *args, **kwargs):
        if is_target(file):
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)


def test_permission_denied_simulated(tmp_path, monkeypatch):
    root = tmp_path / "samples"
    good = make_tree(root, {"a": 2, "b": 2})
    locked = tone_wav(root / "b" / "locked.wav")
    _deny_open(monkeypatch, locked)
    with pytest.raises(AudioLoadError, match="permission denied"):
        load_audio(locked, TINY)
    ds = build("d", root, tmp_path / "ws", classes=True, workers=1)
    assert {s.path: s.reason for s in ds.skipped} == {str(locked): "permission denied"}
    assert str(locked) not in {e.path for e in ds.entries}
    assert len(ds.entries) == sum(len(v) for v in good.values())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_real_chmod(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 2})
    locked = tone_wav(root / "a" / "locked.wav")
    locked.chmod(0)
    try:
        with pytest.raises(AudioLoadError, match="permission denied"):
            load_audio(locked, TINY)
        ds = build("d", root, tmp_path / "ws", classes=True)
        assert {s.path: s.reason for s in ds.skipped} == {str(locked): "permission denied"}
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_directory_symlink_to_parent_does_not_hang(tmp_path):
    root = tmp_path / "samples"
    good = make_tree(root, {"a": 2, "b": 2})
    link = root / "a" / "up"
    os.symlink("..", link)  # samples/a/up -> samples
    files, problems = find_audio_files(root)
    assert sorted(files) == sorted(sum(good.values(), []))  # each file once
    assert [(p.path, p.reason) for p in problems] == [
        (str(link), "symlink loop (folder already visited)")
    ]
    ds = build("d", root, tmp_path / "ws", classes=True)
    assert len(ds.entries) == 4 and ds.class_names == ["a", "b"]
    assert str(link) in ds.summary()


def test_looping_class_folder_is_reported_not_a_class(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 2, "b": 2})
    os.symlink(".", root / "loop")  # a class-level folder that is the root itself
    os.symlink("selfdir", root / "b" / "selfdir")  # a link to itself
    ds = build("d", root, tmp_path / "ws", classes=True)
    assert ds.class_names == ["a", "b"] and len(ds.entries) == 4
    reasons = {s.path: s.reason for s in ds.skipped}
    assert "symlink loop" in reasons[str(root / "loop")]


def test_files_directly_in_root_have_no_class(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 2})
    loose = tone_wav(root / "loose.wav")
    ds = build("d", root, tmp_path / "ws", classes=True)
    assert {s.path: s.reason for s in ds.skipped} == {str(loose): "not inside a class folder"}
    ds2 = build("d2", root, tmp_path / "ws")  # without classes it is an ordinary file
    assert str(loose) in {e.path for e in ds2.entries}
    assert all(e.label is None for e in ds2.entries) and ds2.class_names == []


def test_empty_root_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    with pytest.raises(DatasetError, match=r"no audio files .*found under .*empty"):
        build("d", tmp_path / "empty", tmp_path / "ws")


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist"):
        build("d", tmp_path / "nowhere", tmp_path / "ws")
    f = tone_wav(tmp_path / "file.wav")
    with pytest.raises(DatasetError, match="not a folder"):
        build("d", f, tmp_path / "ws")
    with pytest.raises(DatasetError, match="no root"):
        build("d", [], tmp_path / "ws")
    assert not Workspace(tmp_path / "ws").dataset_path("d").exists()


def test_class_with_only_bad_files_is_a_clear_error(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"kick": 2, "snare": 2})
    (root / "hats").mkdir()
    _empty(root / "hats" / "h1.wav")
    _text(root / "hats" / "h2.wav")
    with pytest.raises(DatasetError, match=r"class folder\(s\) \['hats'\] contain no usable"):
        build("d", root, tmp_path / "ws", classes=True)


def test_only_bad_files_is_a_clear_error_naming_them(tmp_path):
    root = tmp_path / "samples"
    root.mkdir()
    a, b = _empty(root / "a.wav"), _text(root / "b.mp3")
    with pytest.raises(DatasetError, match="no usable audio file") as info:
        build("d", root, tmp_path / "ws")
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_a_mix_of_every_bad_case_in_one_run(tmp_path):
    root = tmp_path / "samples"
    good = make_tree(root, {"a": 3, "b": 3})
    bad = {maker(root / "b" / f"bad_{case}.wav"): reason for case, maker, reason in BAD}
    sf.write(root / "a" / "silent.aiff", np.zeros(2000), 16000)
    ds = build("d", root, tmp_path / "ws", classes=True)
    skipped = {s.path: s.reason for s in ds.skipped}
    for path, reason in bad.items():
        assert reason in skipped[str(path)]
    assert str(root / "b" / "loop_b.wav") in skipped  # the other end of the loop
    kept = {e.path for e in ds.entries}
    assert kept == {str(p) for p in sum(good.values(), [])} | {str(root / "a" / "silent.aiff")}
    assert not kept & set(skipped)


# --- split ------------------------------------------------------------------------------------


def _expected_valid(n: int, ratio: float) -> int:
    k = round(n * (1 - ratio))
    return 0 if n < 2 else min(max(k, 1), n - 1)


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("sizes", [(1, 2, 3, 10, 40), (7, 7, 7), (100, 2, 33), (25,)])
def test_stratified_split_counts(ratio, sizes):
    labels = [f"c{i}" for i, n in enumerate(sizes) for _ in range(n)]
    rng = np.random.default_rng(0)
    rng.shuffle(labels)
    splits = stratified_split(labels, ratio, seed=3)
    valid = Counter(lab for lab, s in zip(labels, splits, strict=True) if s == "valid")
    for i, n in enumerate(sizes):
        assert valid.get(f"c{i}", 0) == _expected_valid(n, ratio)
        if n >= 2:
            assert 1 <= valid[f"c{i}"] <= n - 1  # each class in both splits


def test_stratified_split_seed():
    labels = ["a"] * 30 + ["b"] * 30 + [None] * 10
    s1 = stratified_split(labels, 0.8, seed=1)
    assert s1 == stratified_split(labels, 0.8, seed=1)
    assert s1 != stratified_split(labels, 0.8, seed=2)
    assert Counter(s1) == Counter(stratified_split(labels, 0.8, seed=2))


def test_make_dataset_split_per_class(tmp_path):
    sizes = {"big": 20, "mid": 6, "pair": 2, "one": 1}
    root = tmp_path / "samples"
    make_tree(root, sizes)
    ds = build("d", root, tmp_path / "ws", classes=True, train_ratio=0.75, seed=5)
    counts = ds.counts()
    for c, n in sizes.items():
        assert counts["valid"].get(c, 0) == _expected_valid(n, 0.75)
        assert counts["train"].get(c, 0) + counts["valid"].get(c, 0) == n
    assert ds.class_names == sorted(sizes)
    # labels follow the folders and the class order
    for e in ds.entries:
        assert Path(e.path).parent.name == e.label
    y = ds.labels("valid")
    assert [ds.class_names[i] for i in y] == [e.label for e in ds.split("valid")]
    # seeds
    same = build("d2", root, tmp_path / "ws", classes=True, train_ratio=0.75, seed=5)
    other = build("d3", root, tmp_path / "ws", classes=True, train_ratio=0.75, seed=6)
    assert [e.split for e in same.entries] == [e.split for e in ds.entries]
    assert [e.split for e in other.entries] != [e.split for e in ds.entries]
    assert other.counts() == ds.counts()


def test_make_dataset_without_classes_splits_all(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"x": 6, "y": 4})
    ds = build("d", root, tmp_path / "ws", train_ratio=0.8)
    assert len(ds.split("valid")) == 2 and len(ds.split("train")) == 8
    assert ds.counts() == {"train": {"all": 8}, "valid": {"all": 2}}
    assert np.all(ds.labels("train") == -1)
    with pytest.raises(DatasetError, match="unknown split"):
        ds.split("test")


@pytest.mark.parametrize("ratio", [0.0, -0.5, 1.5])
def test_bad_train_ratio(tmp_path, ratio):
    make_tree(tmp_path / "s", {"a": 2})
    with pytest.raises(DatasetError, match="train_ratio"):
        build("d", tmp_path / "s", tmp_path / "ws", train_ratio=ratio)


# --- several roots, paths -----------------------------------------------------------------------


def test_several_roots_and_every_extension(tmp_path):
    r1, r2 = tmp_path / "one", tmp_path / "two"
    make_tree(r1, {"kick": 2})
    make_tree(r2, {"kick": 1, "snare": 2})
    x = 0.5 * np.sin(np.arange(3000) / 5)
    for ext, fmt in [
        (".AIF", "AIFF"),
        (".aiff", "AIFF"),
        (".Flac", "FLAC"),
        (".ogg", "OGG"),
        (".MP3", "MP3"),
        (".WAV", "WAV"),
    ]:
        sf.write(r2 / "snare" / f"s{ext}", x, 16000, format=fmt)
    (r2 / "snare" / "readme.txt").write_text("ignored")
    ds = build("d", [r1, r2], tmp_path / "ws", classes=True)
    assert ds.class_names == ["kick", "snare"]
    assert ds.counts()["train"].get("kick", 0) + ds.counts()["valid"].get("kick", 0) == 3
    assert len(ds.entries) == 3 + 2 + 6 and not ds.skipped
    assert ds.roots == [str(r1.resolve()), str(r2.resolve())]


def test_relative_roots_give_absolute_paths(tmp_path, monkeypatch):
    make_tree(tmp_path / "samples", {"a": 2, "b": 2})
    monkeypatch.chdir(tmp_path)
    ds = build("d", "samples", "ws", classes=True)
    assert all(Path(e.path).is_absolute() for e in ds.entries)
    monkeypatch.chdir(tmp_path / "samples")  # usable from another working directory
    again = load_dataset("d", tmp_path / "ws")
    X, _, _ = again.load_features("train", progress=False, workers=1)
    assert X.shape == (2, *TINY.shape)


# --- cache through make_dataset -----------------------------------------------------------------


def test_second_make_dataset_computes_nothing(tmp_path, count_calls):
    root = tmp_path / "samples"
    files = make_tree(root, {"a": 4, "b": 4})
    ws = Workspace(tmp_path / "ws")
    first = build("d", root, ws, classes=True)
    assert len(count_calls) == 8
    count_calls.clear()
    second = build("d", root, ws, classes=True)
    assert count_calls == []
    assert second.entries == first.entries
    # load_features reads the cache too, and equals the direct computation
    X, y, paths = second.load_features("train", progress=False, workers=1)
    assert count_calls == []
    for x, p in zip(X, paths, strict=True):
        np.testing.assert_array_equal(x, features(load_audio(p, TINY), TINY))
    assert X.dtype == np.float32 and y.dtype == np.int32
    # touch one file, add one: only those are recomputed
    st = files["a"][0].stat()
    os.utime(files["a"][0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = tone_wav(root / "b" / "new.wav", 999.0)
    count_calls.clear()
    third = build("d", root, ws, classes=True)
    assert sorted(count_calls) == sorted([str(files["a"][0]), str(new)])
    assert len(third.entries) == 9
    tmp_left = [p for p in ws.root.rglob("*") if ".tmp" in p.name]
    assert tmp_left == []  # atomic writes leave no temp files


def test_multiprocess_make_dataset_matches(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 6, "b": 6})
    one = build("one", root, tmp_path / "ws1", classes=True, workers=1)
    two = build("two", root, tmp_path / "ws2", classes=True, workers=2)
    assert one.entries == two.entries
    X1, _, _ = one.load_features("train", progress=False, workers=1)
    X2, _, _ = two.load_features("train", progress=False, workers=1)
    np.testing.assert_array_equal(X1, X2)


def test_load_features_names_a_vanished_file(tmp_path):
    root = tmp_path / "samples"
    files = make_tree(root, {"a": 3})
    ds = build("d", root, tmp_path / "ws", train_ratio=0.5)
    victim = Path(ds.split("train")[0].path)
    victim.unlink()
    with pytest.raises(DatasetError, match=str(victim.name)):
        ds.load_features("train", progress=False, workers=1)
    assert files


# --- manifest ---------------------------------------------------------------------------------


def test_manifest_round_trip(kit_dataset, workspace):
    ds = load_dataset(kit_dataset.name, workspace)
    assert ds == kit_dataset
    assert ds.audio == kit_dataset.audio and ds.class_names == kit_dataset.class_names
    assert Dataset.from_dict(json.loads(json.dumps(ds.to_dict())), workspace) == ds
    data = json.loads(workspace.dataset_path(ds.name).read_text())
    assert data["n_files"] == len(ds.entries) and data["counts"] == ds.counts()
    assert AudioParams.from_dict(data["audio"]) == kit_dataset.audio
    assert set(data) >= {
        "name",
        "roots",
        "audio",
        "files",
        "class_names",
        "counts",
        "skipped",
        "train_ratio",
        "seed",
    }


def test_kit_dataset_counts(kit_dataset):
    from samplevae.synth import DRUM_CLASSES

    assert kit_dataset.class_names == sorted(DRUM_CLASSES)
    counts = kit_dataset.counts()
    n = len(kit_dataset.entries) // len(DRUM_CLASSES)
    for c in DRUM_CLASSES:
        assert counts["valid"][c] == _expected_valid(n, kit_dataset.train_ratio)


def test_save_load_equality_and_json_only(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 3, "b": 3})
    _text(root / "a" / "junk.wav")
    sf.write(root / "b" / "quiet.wav", np.zeros(1000), 16000)
    ws = Workspace(tmp_path / "ws")
    ds = build("d", root, ws, classes=True, train_ratio=0.6, seed=4)
    back = load_dataset("d", ws)
    assert back == ds
    assert back.skipped == ds.skipped and len(back.skipped) == 1
    assert (back.train_ratio, back.seed) == (0.6, 4)
    ds.load_features("valid", progress=False, workers=1)
    # nothing but JSON manifests and .npy feature entries of plain arrays: no pickles
    kinds = Counter(p.suffix for p in ws.root.rglob("*") if p.is_file())
    assert set(kinds) <= {".json", ".npy"}
    assert kinds[".json"] == 1 and kinds[".npy"] >= 1
    for p in ws.root.rglob("*.npy"):
        assert np.load(p, allow_pickle=False).dtype != object
    for p in ws.root.rglob("*.json"):
        json.loads(p.read_text())


def test_load_unknown_dataset_lists_known_ones(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 2})
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DatasetError, match="has none"):
        load_dataset("nope", ws)
    build("drums", root, ws)
    build("loops", root, ws)
    assert list_datasets(ws) == ["drums", "loops"]
    with pytest.raises(
        DatasetError, match=r"no dataset named 'nope'.*known datasets: drums, loops"
    ):
        load_dataset("nope", ws)


def test_malformed_manifest_is_a_dataset_error(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.datasets_dir.mkdir(parents=True)
    ws.dataset_path("broken").write_text("{")
    with pytest.raises(DatasetError, match="broken.json"):
        load_dataset("broken", ws)
    ws.dataset_path("partial").write_text('{"name": "partial"}')
    with pytest.raises(DatasetError, match="malformed"):
        load_dataset("partial", ws)


@pytest.mark.parametrize("name", ["", "../evil", ".hidden", "a/b", "with space"])
def test_invalid_dataset_names(tmp_path, name):
    make_tree(tmp_path / "s", {"a": 2})
    with pytest.raises(DatasetError, match="invalid dataset name"):
        build(name, tmp_path / "s", tmp_path / "ws")


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "a/../../evil", "evil\n", ".."])
def test_names_are_checked_when_reading_too(tmp_path, name):
    """A name that points outside the datasets folder is refused, not read."""
    ws = Workspace(tmp_path / "ws")
    ws.datasets_dir.mkdir(parents=True)
    evil = tmp_path / "ws" / "evil.json"  # a valid manifest, but outside datasets/
    make_tree(tmp_path / "s", {"a": 2})
    d = build("d", tmp_path / "s", tmp_path / "other").to_dict()
    evil.write_text(json.dumps(d))
    with pytest.raises(DatasetError, match="invalid dataset name"):
        load_dataset(name, ws)
    with pytest.raises(DatasetError, match="invalid dataset name"):
        ws.dataset_path(name)
    assert list_datasets(ws) == []


def test_overwrite_false_refuses_existing(tmp_path):
    make_tree(tmp_path / "s", {"a": 2})
    build("d", tmp_path / "s", tmp_path / "ws")
    with pytest.raises(DatasetError, match="already exists"):
        build("d", tmp_path / "s", tmp_path / "ws", overwrite=False)


def test_make_dataset_classifier_alias(tmp_path):
    root = tmp_path / "samples"
    make_tree(root, {"a": 3, "b": 3})
    ws = Workspace(tmp_path / "ws")
    a = make_dataset_classifier(
        "c", root, workspace=ws, audio_params=TINY, progress=False, workers=1
    )
    b = build("c2", root, ws, classes=True)
    assert a.class_names == b.class_names == ["a", "b"]
    assert [(e.path, e.label, e.split) for e in a.entries] == [
        (e.path, e.label, e.split) for e in b.entries
    ]
    assert samplevae.make_dataset is make_dataset and samplevae.load_dataset is load_dataset


def test_workspace_default_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLEVAE_WORKSPACE", str(tmp_path / "envws"))
    assert Workspace().root == (tmp_path / "envws").resolve()
    monkeypatch.delenv("SAMPLEVAE_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    ws = Workspace()
    assert ws.root == (tmp_path / "samplevae_workspace").resolve()
    assert ws.datasets_dir == ws.root / "datasets" and ws.cache_dir.is_relative_to(ws.root)
    assert Workspace(str(tmp_path)) == Workspace(tmp_path)


# --- command line -----------------------------------------------------------------------------


def _cli(args, capsys):
    from samplevae.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


CLI_AUDIO = ["--sample-sec", "0.5", "--n-mels", "32", "--workers", "1", "--no-progress"]


def test_cli_make_dataset_reports_and_saves(tmp_path, capsys):
    root = tmp_path / "samples"
    make_tree(root, {"a": 3, "b": 3})
    junk = _text(root / "b" / "junk.wav")
    ws = tmp_path / "ws"
    code, out, _ = _cli(
        [
            "make-dataset",
            "--data-dir",
            root,
            "--dataset-name",
            "cli",
            "--classes",
            "--train-ratio",
            "0.6",
            "--seed",
            "2",
            "--workspace",
            ws,
            *CLI_AUDIO,
        ],
        capsys,
    )
    assert code == 0
    assert f"{junk}: not a readable audio file" in out
    assert str(Workspace(ws).dataset_path("cli")) in out
    ds = load_dataset("cli", ws)
    assert ds.class_names == ["a", "b"] and len(ds.entries) == 6
    assert ds.audio == AudioParams(sample_sec=0.5, n_mels=32)
    assert (ds.train_ratio, ds.seed) == (0.6, 2)
    assert [s.path for s in ds.skipped] == [str(junk)]
    # the original's command name makes classes without --classes
    code, out, _ = _cli(
        [
            "make_dataset_classifier",
            "--data_dir",
            root,
            "--dataset_name",
            "orig",
            "--workspace",
            ws,
            "--json",
            *CLI_AUDIO,
        ],
        capsys,
    )
    assert code == 0
    report = json.loads(out)
    assert report["class_names"] == ["a", "b"] and report["n_files"] == 6
    assert report["skipped"] == [{"path": str(junk), "reason": ds.skipped[0].reason}]
    code, out, _ = _cli(["datasets", "--workspace", ws], capsys)
    assert code == 0 and out.split() == ["cli", "orig"]
    code, out, _ = _cli(["datasets", "cli", "--workspace", ws], capsys)
    assert code == 0 and "dataset 'cli': 6 files" in out


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "no audio files"),
    ],
)
def test_cli_bad_root_is_a_clear_error(tmp_path, capsys, make, words):
    root = tmp_path / "root"
    make(root)
    code, out, err = _cli(
        [
            "make-dataset",
            "--data-dir",
            root,
            "--dataset-name",
            "d",
            "--workspace",
            tmp_path / "ws",
            *CLI_AUDIO,
        ],
        capsys,
    )
    assert code == 1
    assert err.startswith("error: ") and words in err and "Traceback" not in err


def test_cli_unknown_dataset_lists_known(tmp_path, capsys):
    code, _, err = _cli(["datasets", "nope", "--workspace", tmp_path / "ws"], capsys)
    assert code == 1 and "no dataset named 'nope'" in err


def test_console_script_make_dataset(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "samples"
    make_tree(root, {"a": 2, "b": 2})
    exe = Path(sys.executable).parent / "samplevae"
    out = subprocess.run(
        [
            str(exe),
            "make-dataset",
            "--data-dir",
            str(root),
            "--dataset-name",
            "sub",
            "--classes",
            "--workspace",
            str(tmp_path / "ws"),
            *CLI_AUDIO,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "dataset 'sub': 4 files (2 train, 2 valid)" in out.stdout
    assert load_dataset("sub", tmp_path / "ws").class_names == ["a", "b"]


def test_train_ratio_one_puts_everything_in_train():
    from samplevae.dataset import stratified_split

    labels = ["a"] * 5 + ["b"] * 3
    assert stratified_split(labels, 1.0, seed=0) == ["train"] * 8
    assert stratified_split(labels, 0.99, seed=0).count("valid") == 2  # one per class
