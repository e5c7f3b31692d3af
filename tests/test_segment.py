"""Onset segmentation: every hit of a synthetic drum take gives exactly one segment at the
right time, long noisy decays are never split, and the parameters do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from samplevae.errors import AudioLoadError, ParameterError
from samplevae.params import AudioParams
from samplevae.segment import SegmentParams, segment_file, segment_onsets

SR = 16000


# --- synthetic drums -----------------------------------------------------------------------


def _env(t, t60, attack=0.001):
    """Linear attack, exponential decay falling 60 dB in ``t60`` seconds."""
    return np.clip(t / attack, 0, 1) * np.exp(-6.9 * t / t60)


def _filt(x, kind, freq, order=2):
    sos = signal.butter(order, np.asarray(freq) / (SR / 2), btype=kind, output="sos")
    return signal.sosfilt(sos, x)


def kick(rng):
    t = np.arange(int(0.6 * SR)) / SR
    f = 50 + 100 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(f) / SR) * _env(t, 0.5, 0.002)
    return body + 0.3 * _filt(rng.standard_normal(t.size), "band", [1000, 5000]) * _env(t, 0.01)


def snare(rng):
    t = np.arange(int(0.5 * SR)) / SR
    tone = 0.5 * np.sin(2 * np.pi * 190 * t) * _env(t, 0.12)
    return tone + _filt(rng.standard_normal(t.size), "band", [1000, 7000]) * _env(t, 0.3)


def _metal(rng, t):
    ratios = (2.0, 3.0, 4.16, 5.43, 6.79, 8.21)
    return sum(signal.square(2 * np.pi * 400 * r * t + rng.uniform(0, 6.28)) for r in ratios) / 6


def hihat_open(rng, t60=0.9):
    t = np.arange(int(1.1 * t60 * SR)) / SR
    return _filt(0.5 * _metal(rng, t) + rng.standard_normal(t.size), "high", 5000, 4) * _env(t, t60)


def hihat_closed(rng):
    t = np.arange(int(0.1 * SR)) / SR
    return _filt(0.5 * _metal(rng, t) + rng.standard_normal(t.size), "high", 6000, 4) * _env(
        t, 0.06
    )


def cymbal(rng, t60=1.5, swell=0.3):
    """Crash: 60 beating inharmonic partials + noise, 1.5 s decay, a slow amplitude swell."""
    t = np.arange(int(1.2 * t60 * SR)) / SR
    partials = (
        sum(
            np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
            * (1 + np.sin(2 * np.pi * rng.uniform(1, 6) * t))
            for f in rng.uniform(300, 7000, 60)
        )
        / 30
    )
    noise = _filt(rng.standard_normal(t.size), "high", 2500)
    wobble = 1 + swell * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.28))
    return (0.6 * partials + noise) * _env(t, t60, 0.003) * wobble


def take(seconds, hits, rng, noise_db=-70.0):
    """Mix ``(time, sound, level dB)`` hits (each normalised to its level) plus a noise floor."""
    y = np.zeros(int(seconds * SR))
    for t0, x, db in hits:
        x = x / np.max(np.abs(x)) * 10 ** (db / 20)
        i = int(round(t0 * SR))
        n = min(x.size, y.size - i)
        y[i : i + n] += x[:n]
    y += 10 ** (noise_db / 20) * rng.standard_normal(y.size)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def make_drum_take() -> tuple[np.ndarray, np.ndarray]:
    """A 10.5 s take: kicks, snares, closed and open hi-hats, two crashes (1.5 s decay,
    one with a hit in its tail), levels from 0 to -20 dB. Returns (audio, true onsets in s).
    Also used by bench/segment.py."""
    rng = np.random.default_rng(0)
    hits = [
        (0.2, kick(rng), 0),
        (0.5, hihat_closed(rng), -6),
        (1.0, snare(rng), -3),
        (1.5, hihat_open(rng), -4),
        (2.6, kick(rng), 0),
        (3.1, cymbal(rng), -2),
        (4.9, snare(rng), -20),
        (5.5, kick(rng), -1),
        (5.75, hihat_open(rng, t60=0.7), -8),
        (6.8, cymbal(rng), 0),
        (7.8, kick(rng), -2),
        (8.6, hihat_closed(rng), -20),
        (9.2, snare(rng), -5),
    ]
    truth = np.array([t for t, _, _ in hits])
    truth[0] = 0.0  # the first onset (< snap_start) snaps to the start
    return take(10.5, hits, rng), truth


@pytest.fixture(scope="module")
def drum_take():
    return make_drum_take()


# --- behaviour -----------------------------------------------------------------------------


def test_each_hit_gives_one_segment(drum_take):
    y, truth = drum_take
    onsets = segment_onsets(y, SR)
    assert onsets.dtype == np.float64 and np.all(np.diff(onsets) > 0)
    assert onsets.size == truth.size, f"found {np.round(onsets, 3)}, truth {truth}"
    assert np.max(np.abs(onsets - truth)) < 0.03
    assert onsets[0] == 0.0


def test_works_at_other_sample_rates(drum_take):
    import librosa

    y, truth = drum_take
    for sr in (22050, 44100):
        onsets = segment_onsets(librosa.resample(y, orig_sr=SR, target_sr=sr), sr)
        assert onsets.size == truth.size
        assert np.max(np.abs(onsets - truth)) < 0.03


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("sound", ["cymbal", "cymbal_swell", "hihat_open", "reverb"])
def test_one_long_decay_is_one_segment(seed, sound):
    rng = np.random.default_rng(seed)
    if sound == "cymbal":
        x = cymbal(rng)
    elif sound == "cymbal_swell":
        x = cymbal(rng, swell=0.5)
    elif sound == "hihat_open":
        x = hihat_open(rng, t60=1.2)
    else:  # a snare through a 1.2 s noise reverb
        t = np.arange(int(1.5 * SR)) / SR
        ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / 1.2)
        ir[0] = 3.0
        x = signal.fftconvolve(snare(rng), ir)
    y = take(3.0, [(0.8, x, 0)], rng, noise_db=-60)
    np.testing.assert_allclose(segment_onsets(y, SR), [0.8], atol=0.03)
    if sound != "reverb":  # (a tonal reverb tail can fade and recover by > 8 dB)
        # a detector 3.5x more sensitive than the default keeps it whole too: the rise
        # gate, not the detector threshold, is what protects metal decays
        sensitive = SegmentParams(delta=0.02)
        np.testing.assert_allclose(segment_onsets(y, SR, sensitive), [0.8], atol=0.03)


def test_without_the_rise_gate_a_decay_is_split():
    # the original's failure, reproduced: with a barely-there rise gate and a sensitive
    # detector, a crash with a swell falls into pieces
    rng = np.random.default_rng(0)
    y = take(3.0, [(0.8, cymbal(rng, swell=0.5), 0)], rng, noise_db=-60)
    loose = SegmentParams(delta=0.02, min_rise_db=0.5, min_level_db=-60.0)
    assert segment_onsets(y, SR, loose).size > 1
    assert segment_onsets(y, SR, SegmentParams(delta=0.02)).size == 1


def test_hits_over_tails_are_found():
    rng = np.random.default_rng(1)
    cases = [
        ([(0.6, kick(rng), 0), (0.75, hihat_closed(rng), -12)], [0.6, 0.75]),  # hat on a kick
        ([(0.6, hihat_open(rng), 0), (0.8, kick(rng), -20)], [0.6, 0.8]),  # quiet kick
        ([(0.6, cymbal(rng), 0), (1.4, snare(rng), -6)], [0.6, 1.4]),  # snare in a crash
        (
            [(0.6 + 0.11 * i, snare(rng), -3 * i) for i in range(4)],  # a fading roll
            [0.6, 0.71, 0.82, 0.93],
        ),
    ]
    for hits, truth in cases:
        onsets = segment_onsets(take(3.0, hits, rng), SR)
        assert onsets.size == len(truth), (np.round(onsets, 3), truth)
        assert np.max(np.abs(onsets - truth)) < 0.03


def test_min_gap_is_respected():
    rng = np.random.default_rng(2)
    hits = [(0.6 + 0.12 * i, snare(rng), -i) for i in range(5)]  # 120 ms apart
    y = take(2.0, hits, rng)
    np.testing.assert_allclose(segment_onsets(y, SR), [0.6, 0.72, 0.84, 0.96, 1.08], atol=0.03)
    onsets = segment_onsets(y, SR, SegmentParams(min_gap=0.15))
    assert np.all(np.diff(onsets) >= 0.15)
    np.testing.assert_allclose(onsets, [0.6, 0.84, 1.08], atol=0.03)  # greedy from the left


def test_min_level_db_drops_quiet_segments():
    rng = np.random.default_rng(3)
    y = take(3.0, [(0.6, snare(rng), 0), (1.5, snare(rng), -30), (2.2, kick(rng), -10)], rng)
    np.testing.assert_allclose(segment_onsets(y, SR), [0.6, 1.5, 2.2], atol=0.03)
    strict = SegmentParams(min_level_db=-20.0)
    np.testing.assert_allclose(segment_onsets(y, SR, strict), [0.6, 2.2], atol=0.03)


def test_snap_start_backtrack_and_max_segments():
    rng = np.random.default_rng(4)
    y = take(
        4.0,
        [(0.3, snare(rng), -6), (1.3, kick(rng), 0), (2.3, snare(rng), -12), (3.3, kick(rng), -3)],
        rng,
    )
    np.testing.assert_allclose(segment_onsets(y, SR), [0.0, 1.3, 2.3, 3.3], atol=0.03)
    no_snap = segment_onsets(y, SR, SegmentParams(snap_start=0.0))
    np.testing.assert_allclose(no_snap, [0.3, 1.3, 2.3, 3.3], atol=0.03)
    # without backtracking the onset is the envelope peak: never earlier, a little later
    peak = segment_onsets(y, SR, SegmentParams(backtrack=False, snap_start=0.0))
    assert peak.size == 4 and np.all(peak >= no_snap) and np.all(peak - no_snap < 0.06)
    # max_segments keeps the strongest (largest rise above what came before) in time
    # order: here every hit rises from the noise floor, so the two loudest
    np.testing.assert_allclose(
        segment_onsets(y, SR, SegmentParams(max_segments=2)), [1.3, 3.3], atol=0.03
    )


def test_max_segments_prefers_the_clearest_hits():
    rng = np.random.default_rng(5)
    # the 2nd and 4th hits land in the tail of a louder one (smaller rise)
    y = take(
        4.0,
        [
            (0.6, kick(rng), 0),
            (0.75, hihat_closed(rng), -12),
            (2.0, kick(rng), 0),
            (2.15, hihat_closed(rng), -12),
        ],
        rng,
    )
    full = segment_onsets(y, SR)
    np.testing.assert_allclose(full, [0.6, 0.75, 2.0, 2.15], atol=0.03)
    np.testing.assert_allclose(
        segment_onsets(y, SR, SegmentParams(max_segments=2)), [0.6, 2.0], atol=0.03
    )


def test_silence_and_hitless_audio_give_one_segment():
    assert segment_onsets(np.zeros(SR * 3, np.float32), SR).tolist() == [0.0]
    t = np.arange(3 * SR) / SR
    drone = (0.5 * np.sin(2 * np.pi * 220 * t) * np.clip(t / 0.5, 0, 1)).astype(np.float32)
    assert segment_onsets(drone, SR).tolist() == [0.0]
    assert segment_onsets(np.zeros(0, np.float32), SR).tolist() == [0.0]


# --- files ---------------------------------------------------------------------------------


def test_segment_file_reads_long_files_at_the_model_rate(tmp_path, drum_take):
    import librosa

    y, truth = drum_take
    path = tmp_path / "take.wav"
    sf.write(path, librosa.resample(y, orig_sr=SR, target_sr=44100), 44100)
    onsets = segment_file(path, AudioParams())
    assert isinstance(onsets, list) and all(isinstance(t, float) for t in onsets)
    assert len(onsets) == truth.size and np.max(np.abs(np.array(onsets) - truth)) < 0.03


def test_segment_file_short_file_is_one_segment(tmp_path):
    rng = np.random.default_rng(6)
    y = take(1.9, [(0.1, kick(rng), 0), (0.7, snare(rng), 0), (1.3, kick(rng), 0)], rng)
    path = tmp_path / "short.wav"
    sf.write(path, y, SR)
    assert segment_file(path, AudioParams()) == [0.0]  # 1.9 s <= 2.0 s clip
    assert len(segment_file(path, AudioParams(sample_sec=0.5))) == 3  # longer than 0.5 s


def test_segment_file_unreadable_raises_audio_load_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioLoadError, match="bad.wav"):
        segment_file(bad, AudioParams())
    with pytest.raises(AudioLoadError, match="not found"):
        segment_file(tmp_path / "missing.wav", AudioParams())


@pytest.mark.parametrize(
    "audio, sr, match",
    [
        (np.zeros((2, 100)), SR, "mono"),
        (np.array([0.0, np.nan, 0.0]), SR, "NaN"),
        (np.zeros(100), 0, "sample_rate"),
        (np.zeros(100), 16000.5, "sample_rate"),
    ],
)
def test_bad_audio_is_refused(audio, sr, match):
    with pytest.raises(ParameterError, match=match):
        segment_onsets(audio, sr)


# --- slicing a long take into files --------------------------------------------------------


def test_slice_file_writes_one_wav_per_hit_losslessly(tmp_path, drum_take):
    from samplevae.segment import slice_file

    y, truth = drum_take
    stereo = np.stack([y, 0.5 * y], axis=1)
    src = tmp_path / "my take.wav"
    sf.write(src, stereo, SR, subtype="PCM_24")
    before = src.read_bytes()
    out = slice_file(src, tmp_path / "slices", sfz=True)
    assert src.read_bytes() == before
    assert [p.name for p in out] == [f"my_take_{i:03d}.wav" for i in range(1, truth.size + 1)]
    assert np.max(np.abs(np.array(out.onsets) - truth)) < 0.03
    data, _ = sf.read(src, dtype="float32", always_2d=True)
    pieces = [sf.read(p, dtype="float32", always_2d=True) for p in out]
    assert all(sr == SR and a.shape[1] == 2 for a, sr in pieces)
    joined = np.concatenate([a for a, _ in pieces])
    assert joined.shape == data.shape and np.allclose(joined, data, atol=1e-6)  # no gap, no loss
    regions = [line for line in out.sfz.read_text().splitlines() if line.startswith("<region>")]
    assert regions == [f"<region> sample={p.name} key={36 + i}" for i, p in enumerate(out)]


def test_slice_file_refuses_to_overwrite_and_takes_given_onsets(tmp_path, drum_take):
    from samplevae.errors import SampleVAEError
    from samplevae.segment import slice_file

    y, _ = drum_take
    src = tmp_path / "take.wav"
    sf.write(src, y, SR)
    slice_file(src, tmp_path / "s")
    with pytest.raises(SampleVAEError, match="take_001.wav exists"):
        slice_file(src, tmp_path / "s")
    out = slice_file(src, tmp_path / "s", onsets=[0.0, 2.0], overwrite=True)
    assert len(out) == 2 and out.onsets == [0.0, 2.0]
    assert sf.info(str(out[0])).frames == 2 * SR
    with pytest.raises(ParameterError, match="onsets"):
        slice_file(src, tmp_path / "t", onsets=[0.0, 99.0])
    with pytest.raises(AudioLoadError, match="missing.wav"):
        slice_file(tmp_path / "missing.wav", tmp_path / "t")


def test_cli_slice(tmp_path, drum_take, capsys):
    import json

    from samplevae.cli import main

    y, truth = drum_take
    src = tmp_path / "take.wav"
    sf.write(src, y, SR)
    assert main(["slice", str(src), "--out", str(tmp_path / "cli"), "--json", "--sfz"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["slices"]) == truth.size and data["sfz"].endswith("take.sfz")
    assert np.max(np.abs(np.array([s["onset"] for s in data["slices"]]) - truth)) < 0.03
    assert (
        main(
            [
                "slice",
                str(src),
                "--out",
                str(tmp_path / "few"),
                "--max-segments",
                "3",
                "--min-gap",
                "0.5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 slice(s)" in out and out.count("onset") == 3
