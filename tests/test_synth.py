"""The embedded synthetic drum kit: deterministic, 9 class folders, loadable, classes differ."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplevae.audio import is_silent, load_audio
from samplevae.errors import ParameterError
from samplevae.params import AudioParams
from samplevae.synth import DRUM_CLASSES, KIT_SAMPLE_RATE, make_kit, synth_hit

NINE = [
    "kick",
    "snare",
    "hihat_closed",
    "hihat_open",
    "tom_low",
    "tom_mid",
    "tom_high",
    "clap",
    "rim",
]


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def kit6(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit6")
    files = make_kit(out, per_class=6, seed=11)
    return out, files


def test_the_nine_classes():
    assert list(DRUM_CLASSES) == NINE


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = make_kit(tmp_path / "a", per_class=2, seed=3)
    make_kit(tmp_path / "b", per_class=2, seed=3)
    make_kit(tmp_path / "c", per_class=2, seed=4)
    ha, hb, hc = hashes(tmp_path / "a"), hashes(tmp_path / "b"), hashes(tmp_path / "c")
    assert len(ha) == len(a) == 18
    assert ha == hb
    assert ha.keys() == hc.keys()
    assert all(ha[k] != hc[k] for k in ha)  # every file changes with the seed


def test_rewriting_gives_the_same_bytes(tmp_path):
    make_kit(tmp_path, per_class=1, seed=0)
    before = hashes(tmp_path)
    make_kit(tmp_path, per_class=1, seed=0)
    assert hashes(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_layout(kit6):
    out, files = kit6
    assert sorted(d.name for d in out.iterdir()) == sorted(NINE)
    for c in NINE:
        names = sorted(p.name for p in (out / c).iterdir())
        assert names == [f"{c}_{i:03d}.wav" for i in range(6)]
    assert files == [out / c / f"{c}_{i:03d}.wav" for c in NINE for i in range(6)]


def test_every_file_loads_and_is_a_usable_hit(kit6):
    _, files = kit6
    for p in files:
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (KIT_SAMPLE_RATE, 1, "PCM_16")
        x, _ = sf.read(p, dtype="float32")
        peak_db = 20 * np.log10(np.max(np.abs(x)))
        assert -12.5 < peak_db < -0.4, p  # random level between -12 and -0.5 dBFS
        y = load_audio(p, AudioParams())
        assert y.shape == (32000,) and not is_silent(y), p
        assert np.all(np.isfinite(y))


def test_samples_vary_inside_a_class(kit6):
    _, files = kit6
    for c in NINE:
        a, b = (
            sf.read(p)[0] for p in files if p.parent.name == c and p.stem[-3:] in ("000", "001")
        )
        assert a.shape != b.shape or not np.allclose(a, b)


def _centroid(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / sr)
    return float((spec * f).sum() / spec.sum())


def _dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x, 2**17))
    return float(np.argmax(spec) * sr / 2**17)


def _duration(x: np.ndarray, sr: int, below_db: float = 40.0) -> float:
    env = np.abs(x)
    idx = np.nonzero(env > env.max() * 10 ** (-below_db / 20))[0]
    return (idx[-1] - idx[0]) / sr


def test_classes_differ_as_drums_do(kit6):
    _, files = kit6
    by_class: dict[str, list[np.ndarray]] = {c: [] for c in NINE}
    for p in files:
        by_class[p.parent.name].append(sf.read(p)[0])
    sr = KIT_SAMPLE_RATE

    def mean(stat, c):
        return float(np.mean([stat(x, sr) for x in by_class[c]]))

    # a kick is darker than every class but the low tom, which overlaps it by design
    for other in NINE[1:]:
        if other == "tom_low":
            continue
        assert mean(_centroid, "kick") < mean(_centroid, other)
    for bright in ("hihat_closed", "hihat_open", "clap"):
        assert mean(_centroid, "kick") < mean(_centroid, bright) / 10
    # hi-hats are the brightest class
    assert min(mean(_centroid, "hihat_closed"), mean(_centroid, "hihat_open")) > max(
        mean(_centroid, c) for c in NINE if not c.startswith("hihat")
    )
    # toms are tuned low < mid < high, above the kick
    pitch = [
        float(np.median([_dominant_hz(x, sr) for x in by_class[c]]))
        for c in ("kick", "tom_low", "tom_mid", "tom_high")
    ]
    assert pitch == sorted(pitch)
    # an open hi-hat rings longer than a closed one; a rim shot is the shortest hit
    assert mean(_duration, "hihat_open") > 3 * mean(_duration, "hihat_closed")
    assert mean(_duration, "rim") == min(mean(_duration, c) for c in NINE)


def test_classes_differ_in_the_models_features(kit6):
    """At the model's 16 kHz the classes still separate: nearest class mean is mostly right."""
    from samplevae.features import features

    _, files = kit6
    params = AudioParams(n_mels=32)
    X = np.stack([features(load_audio(p, params), params).mean(axis=1) for p in files])
    labels = np.array([NINE.index(p.parent.name) for p in files])
    means = np.stack([X[labels == k].mean(axis=0) for k in range(9)])
    pred = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == labels).mean() > 0.6  # chance is 0.11


def test_synth_hit_is_seeded():
    a = synth_hit("snare", seed=5)
    assert a.dtype == np.float32 and a.ndim == 1
    np.testing.assert_array_equal(a, synth_hit("snare", seed=5))
    b = synth_hit("snare", seed=6)
    assert a.shape != b.shape or not np.allclose(a, b)


@pytest.mark.parametrize("sr", [16000, 22050, 48000])
def test_other_sample_rates(tmp_path, sr):
    files = make_kit(tmp_path, per_class=1, seed=0, classes=("kick", "rim"), sample_rate=sr)
    assert [p.parent.name for p in files] == ["kick", "rim"]
    assert all(sf.info(p).samplerate == sr for p in files)


def test_class_subset_keeps_each_class_sound(tmp_path):
    full = make_kit(tmp_path / "full", per_class=1, seed=2)
    sub = make_kit(tmp_path / "sub", per_class=1, seed=2, classes=("clap",))
    clap = [p for p in full if p.parent.name == "clap"][0]
    assert sub[0].read_bytes() == clap.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"per_class": 0}, "per_class"),
        ({"classes": ("kick", "cowbell")}, "cowbell"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, words):
    with pytest.raises(ParameterError, match=words):
        make_kit(tmp_path, **kwargs)


def test_unknown_hit():
    with pytest.raises(ParameterError, match="cowbell.*kick"):
        synth_hit("cowbell")


def test_cli_synth_kit(tmp_path, capsys):
    from samplevae.cli import main

    assert main(["synth-kit", str(tmp_path / "cli"), "--per-class", "2", "--seed", "3"]) == 0
    assert "wrote 18 files" in capsys.readouterr().out
    make_kit(tmp_path / "api", per_class=2, seed=3)
    assert hashes(tmp_path / "cli") == hashes(tmp_path / "api")


def test_console_script_synth_kit(tmp_path):
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "samplevae"
    out = subprocess.run(
        [str(exe), "synth-kit", "kit", "--per-class", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "kit").iterdir()) == sorted(NINE)
