"""Features: shape, dtype and range; the inverse keeps pitch; batch extraction and its cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from samplevae.audio import load_audio
from samplevae.errors import ParameterError
from samplevae.features import (
    FeatureCache,
    _stft,
    audio_from_features,
    encode_cache_entry,
    extract_features,
    features,
    file_signature,
    griffin_lim,
    mel_basis,
    mfcc_stats_of_features,
)
from samplevae.io import atomic_path, atomic_write_json
from samplevae.params import AudioParams

DEFAULT = AudioParams()
TINY = AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128)
PARAMS = [
    DEFAULT,
    TINY,
    AudioParams(sample_rate=22050, sample_sec=1.0, n_mels=64),
    AudioParams(sample_sec=1.3, hop_length=200, n_fft=800, fmin=40.0, fmax=7000.0),
]


def tone(freq: float, sr: int, sec: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * sec))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# --- features ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p.sample_rate}Hz-{p.shape}")
@pytest.mark.parametrize("kind", ["noise", "tone", "decay", "short"])
def test_feature_shape_dtype_range(rng, params, kind):
    n = params.n_samples
    if kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "tone":
        x = tone(440.0, params.sample_rate, params.sample_sec)
    elif kind == "decay":
        x = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.05 * params.sample_rate))
    else:
        x = rng.standard_normal(n // 10)  # padded to the clip length
    f = features(x, params)
    assert f.shape == params.shape == (params.n_mels, params.n_frames)
    assert f.dtype == np.float32
    assert f.min() >= 0.0 and f.max() <= 1.0
    assert f.max() == pytest.approx(1.0)  # 1 is the clip's loudest bin


def test_default_feature_shape_is_128_by_125():
    assert features(np.ones(32000) * 0.1).shape == (128, 125)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: str(p.shape))
@pytest.mark.parametrize("n", [0, 100, None])
def test_silent_clip_gives_zeros(params, n):
    x = np.zeros(params.n_samples if n is None else n, dtype=np.float32)
    f = features(x, params)
    assert f.shape == params.shape and f.dtype == np.float32
    assert not np.any(f)


def test_features_ignore_the_level(rng):
    x = rng.standard_normal(DEFAULT.n_samples).astype(np.float32) * 0.5
    np.testing.assert_allclose(features(x), features(x * 0.01), atol=1e-5)


def test_floor_is_top_db_below_the_peak():
    # a 1 kHz tone plus a 60 dB quieter 4 kHz tone
    sr = DEFAULT.sample_rate
    x = tone(1000.0, sr, 2.0, 0.5) + tone(4000.0, sr, 2.0, 0.5e-3)
    mel_f = __import__("librosa").mel_frequencies(n_mels=128, fmax=sr / 2)
    band = int(np.argmin(np.abs(mel_f - 4000.0)))

    def quiet_level(top_db):
        f = features(x, DEFAULT.replace(top_db=top_db))
        return float(f[band - 1 : band + 2, 10:-10].max())

    v80 = quiet_level(80.0)
    db = v80 * 80.0 - 80.0  # the quiet band, in dB below the clip's peak
    assert -70.0 < db < -55.0
    assert quiet_level(75.0) == pytest.approx((db + 75.0) / 75.0, abs=1e-3)
    assert quiet_level(50.0) == 0.0  # below the floor


def test_features_match_librosa_reference(rng):
    import librosa

    x = rng.standard_normal(DEFAULT.n_samples).astype(np.float32) * np.hanning(DEFAULT.n_samples)
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=16000,
        n_fft=1024,
        hop_length=256,
        n_mels=128,
        power=2.0,
        center=True,
        pad_mode="constant",
    )[:, :125]
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    np.testing.assert_allclose(features(x), (db + 80.0) / 80.0, atol=1e-4)


def test_mfcc_stats_of_features_are_librosas_mfccs_of_the_log_mel(rng):
    """The MFCCs of the features' dB (librosa's DCT-II, orthonormal), their mean and std over
    time, and those of their deltas; the same for a batch; level-independent like them."""
    import librosa

    p = AudioParams()
    y = rng.standard_normal(p.n_samples).astype(np.float32) * np.linspace(1, 0, p.n_samples)
    f = features(y, p)
    m = librosa.feature.mfcc(S=f.astype(np.float64) * p.top_db - p.top_db, n_mfcc=20)
    stats = mfcc_stats_of_features(f, p)
    assert stats.shape == (80,) and stats.dtype == np.float32
    np.testing.assert_allclose(stats[:20], m.mean(axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stats[20:40], m.std(axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stats[40:60], np.gradient(m, axis=1).mean(axis=1), atol=1e-3)
    other = features(rng.standard_normal(p.n_samples).astype(np.float32), p)
    batch = mfcc_stats_of_features(np.stack([f, other]), p)
    np.testing.assert_allclose(batch[0], stats, rtol=1e-5)
    assert not np.allclose(batch[1], stats)
    np.testing.assert_allclose(mfcc_stats_of_features(features(0.1 * y, p), p), stats, atol=1e-2)


def test_mel_basis_uses_the_real_sample_rate():
    # the original built its filterbank for 22050 Hz by mistake
    b16 = mel_basis(AudioParams(sample_rate=16000))
    b22 = mel_basis(AudioParams(sample_rate=22050))
    assert b16.shape == (128, 513)
    assert not np.allclose(b16, b22)
    # the top band of the 16 kHz basis reaches up to (almost) 8 kHz
    top_bin = np.nonzero(b16[-1])[0].max()
    assert top_bin * 16000 / 1024 > 7500


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_audio_is_refused(bad):
    x = np.zeros(1000, dtype=np.float32)
    x[10] = bad
    with pytest.raises(ParameterError, match="NaN or infinite"):
        features(x)


# --- the inverse ------------------------------------------------------------------------------


def _peak_bin(y: np.ndarray, params: AudioParams) -> int:
    import librosa

    spec = np.abs(librosa.stft(y, n_fft=params.n_fft, hop_length=params.hop_length))
    return int(np.argmax(spec.mean(axis=1)))


@pytest.mark.parametrize("freq", [220.0, 440.0, 1000.0, 2500.0])
def test_griffin_lim_round_trip_keeps_pitch(freq):
    p = DEFAULT
    x = tone(freq, p.sample_rate, p.sample_sec)
    y = audio_from_features(features(x, p), p)
    assert y.shape == (p.n_samples,) and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) == pytest.approx(0.95, abs=1e-4)  # peak-normalised
    true_bin = freq * p.n_fft / p.sample_rate
    assert abs(_peak_bin(y, p) - true_bin) <= 1.0  # within one FFT bin
    # and its features resemble the input's
    assert np.mean(np.abs(features(y, p) - features(x, p))) < 0.15


@pytest.mark.parametrize("freq", [300.0, 1500.0])
def test_griffin_lim_round_trip_other_params(freq):
    p = TINY
    x = tone(freq, p.sample_rate, p.sample_sec)
    y = audio_from_features(features(x, p), p, n_iter=16)
    assert y.shape == (p.n_samples,)
    assert abs(_peak_bin(y, p) - freq * p.n_fft / p.sample_rate) <= 1.0


def test_griffin_lim_iterations_and_seed():
    p = TINY
    f = features(
        tone(500.0, p.sample_rate, p.sample_sec) + tone(1200.0, p.sample_rate, p.sample_sec, 0.2), p
    )
    a = audio_from_features(f, p, n_iter=32, seed=3)
    np.testing.assert_array_equal(a, audio_from_features(f, p, n_iter=32, seed=3))
    assert not np.allclose(a, audio_from_features(f, p, n_iter=32, seed=4))
    assert not np.allclose(a, audio_from_features(f, p, n_iter=1, seed=3))

    def err(y):  # relative error of the mel power spectrogram
        def power(q):
            return 10.0 ** ((q - 1.0) * p.top_db / 10.0)

        return np.linalg.norm(power(features(y, p)) - power(f)) / np.linalg.norm(power(f))

    assert err(a) < 0.8 * err(audio_from_features(f, p, n_iter=1, seed=3))  # iterations help


def test_griffin_lim_starts_from_a_given_phase():
    """init_phase / phase_from: Griffin-Lim starts from a real sound's phase, so the sound's
    own magnitude and phase give the sound back (a random start does not)."""
    p = DEFAULT
    rng = np.random.default_rng(0)
    t = np.arange(p.n_samples) / p.sample_rate
    x = (np.sin(2 * np.pi * 180 * t) + 0.3 * rng.standard_normal(t.size)) * np.exp(-t / 0.3)
    x = (0.9 * x / np.abs(x).max()).astype(np.float32)
    spec = _stft(x, p.n_fft, p.hop_length)
    geometry = {"n_fft": p.n_fft, "hop_length": p.hop_length, "length": p.n_samples}
    own = griffin_lim(np.abs(spec), n_iter=1, init_phase=spec, **geometry)
    rand = griffin_lim(np.abs(spec), n_iter=1, **geometry)
    assert np.corrcoef(own, x)[0, 1] > 0.99 > 0.5 > abs(np.corrcoef(rand, x)[0, 1])
    # zero bins of the donor start random; a wrong shape is a clear error
    silent_donor = griffin_lim(np.abs(spec), n_iter=1, init_phase=0 * spec, **geometry)
    np.testing.assert_array_equal(silent_donor, rand)
    with pytest.raises(ParameterError, match="init_phase must be an STFT"):
        griffin_lim(np.abs(spec), n_iter=1, init_phase=spec[:-1], **geometry)
    # through the features: the donor's phase brings the waveform back, not just the spectrum
    f = features(x, p)
    with_phase = audio_from_features(f, p, n_iter=4, phase_from=x)
    without = audio_from_features(f, p, n_iter=4)
    assert np.corrcoef(with_phase, x)[0, 1] > 0.9 > 0.2 > abs(np.corrcoef(without, x)[0, 1])


@pytest.mark.parametrize("p", [DEFAULT, PARAMS[3]], ids=["default", "hop200"])
@pytest.mark.parametrize("n_iter", [0, 1, 32])
def test_griffin_lim_is_librosas(rng, p, n_iter):
    """Our numpy Griffin-Lim (no scipy.signal or numba import) computes what librosa's does:
    the same random initial phase for a seed, the same iterations, to float32 rounding."""
    import librosa

    y = (rng.standard_normal(p.n_samples) * np.exp(-np.linspace(0, 6, p.n_samples))).astype(
        np.float32
    )
    mag = np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length)).astype(np.float32)
    ref = librosa.griffinlim(
        mag, n_iter=n_iter, hop_length=p.hop_length, n_fft=p.n_fft, length=p.n_samples,
        random_state=3,
    )  # fmt: skip
    ours = griffin_lim(
        mag, n_iter=n_iter, n_fft=p.n_fft, hop_length=p.hop_length, length=p.n_samples, seed=3
    )
    assert ours.shape == ref.shape == (p.n_samples,) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-4 * np.abs(ref).max())


def test_features_without_scipy_are_the_same(tmp_path):
    """A one-off feature (a command-line query) is taken without importing scipy (numpy's
    FFT, the filterbank band by band); after use_scipy() scipy's: the same numbers."""
    code = (
        "import sys, numpy as np\n"
        "from samplevae.features import features, use_scipy\n"
        "from samplevae.params import AudioParams\n"
        "p = AudioParams()\n"
        "y = np.random.default_rng(0).standard_normal(p.n_samples).astype(np.float32)\n"
        "y *= np.exp(-np.linspace(0, 5, p.n_samples)).astype(np.float32)\n"
        "a = features(y, p)\n"
        "assert 'scipy.fft' not in sys.modules and 'scipy.sparse' not in sys.modules\n"
        "use_scipy()\n"
        "b = features(y, p)\n"
        "print(float(np.abs(a - b).max()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 1e-5


def test_inverse_of_zeros_is_finite():
    y = audio_from_features(np.zeros(TINY.shape), TINY)
    assert y.shape == (TINY.n_samples,) and np.all(np.isfinite(y))


def test_inverse_refuses_wrong_shape():
    with pytest.raises(ValueError):
        audio_from_features(np.zeros((10, 10)), TINY)


# --- batch extraction and cache ---------------------------------------------------------------


def _write_tones(folder, n, sr=16000, sec=0.3):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"tone_{i:02d}.wav"
        sf.write(p, tone(200.0 + 150.0 * i, sr, sec), sr)
        paths.append(p)
    return paths


@pytest.fixture
def tones(tmp_path):
    return _write_tones(tmp_path / "audio", 10)


def test_extract_features_equal_direct_computation(tones):
    res = extract_features(tones, TINY, workers=1, progress=False)
    assert [it.path for it in res.items] == [str(p) for p in tones]
    assert len(res.ok) == len(tones) and not res.failed
    X = res.stack()
    assert X.shape == (len(tones), *TINY.shape) and X.dtype == np.float32
    for p, x in zip(tones, X, strict=True):
        np.testing.assert_array_equal(x, features(load_audio(p, TINY), TINY))


def test_extract_features_multiprocess_matches_single(tones, tmp_path):
    more = tones + _write_tones(tmp_path / "more", 4, sec=0.2)  # > 8 files: the process pool runs
    one = extract_features(more, TINY, workers=1, progress=False)
    two = extract_features(more, TINY, workers=2, progress=False)
    np.testing.assert_array_equal(one.stack(), two.stack())
    assert [it.path for it in one.items] == [it.path for it in two.items]


def test_extract_features_reports_failures_in_order(tones, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    missing = tmp_path / "missing.wav"
    paths = [tones[0], bad, tones[1], missing]
    res = extract_features(paths, TINY, workers=1, progress=False, cache_dir=tmp_path / "c")
    assert [it.ok for it in res.items] == [True, False, True, False]
    assert "not a readable audio file" in res.items[1].error
    assert "not found" in res.items[3].error
    assert res.items[1].features is None
    assert [it.path for it in res.failed] == [str(bad), str(missing)]
    assert res.stack().shape == (2, *TINY.shape)


def test_extract_features_offsets(tmp_path):
    sr = 16000
    x = np.concatenate([tone(300.0, sr, 0.5), tone(3000.0, sr, 0.5)])
    p = tmp_path / "two.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    res = extract_features(
        [p, p], TINY, offsets=[0.0, 0.5], workers=1, progress=False, cache_dir=tmp_path / "cache"
    )
    a, b = res.stack()
    np.testing.assert_array_equal(b, features(x[8000:], TINY))
    assert np.argmax(a.mean(axis=1)) < np.argmax(b.mean(axis=1))
    # offsets are part of the cache key
    again = extract_features(
        [p, p], TINY, offsets=[0.0, 0.5], workers=1, progress=False, cache_dir=tmp_path / "cache"
    )
    assert again.n_cached == 2
    np.testing.assert_array_equal(again.stack(), res.stack())
    with pytest.raises(ValueError, match="offsets"):
        extract_features([p], TINY, offsets=[0.0, 1.0])


def _cache_files(cache_dir):
    return sorted(str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*") if p.is_file())


def test_second_run_computes_nothing(tones, tmp_path, count_calls):
    cache = tmp_path / "cache"
    first = extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    assert first.n_cached == 0 and len(count_calls) == len(tones)
    count_calls.clear()
    second = extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    assert count_calls == []
    assert second.n_cached == len(tones) and all(it.cached for it in second.items)
    np.testing.assert_array_equal(second.stack(), first.stack())
    # the cache holds one .npy (features, then the silence flag and a CRC-32) per file, under
    # a folder per parameter set
    files = _cache_files(cache)
    assert len(files) == len(tones)
    assert all(f.startswith(TINY.key() + os.sep) and f.endswith(".npy") for f in files)
    entry = np.load(cache / files[0], allow_pickle=False)  # still a plain .npy to numpy
    assert entry.dtype == np.float32 and entry.shape == TINY.shape
    assert not any(".tmp" in f for f in files)  # atomic writes leave no temp files


def test_changed_or_new_file_is_recomputed_alone(tones, tmp_path, count_calls):
    cache = tmp_path / "cache"
    extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    count_calls.clear()
    # touch one file (mtime changes, content the same)
    st = tones[3].stat()
    os.utime(tones[3], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    res = extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    assert count_calls == [str(tones[3])]
    assert res.n_cached == len(tones) - 1 and not res.items[3].cached
    # rewrite one file with other content (size changes)
    count_calls.clear()
    sf.write(tones[5], tone(5000.0, 16000, 0.45), 16000)
    res = extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    assert count_calls == [str(tones[5])]
    np.testing.assert_array_equal(res.items[5].features, features(load_audio(tones[5], TINY), TINY))
    # a new file
    count_calls.clear()
    new = _write_tones(tmp_path / "new", 1)[0]
    res = extract_features([*tones, new], TINY, cache_dir=cache, workers=1, progress=False)
    assert count_calls == [str(new)]
    assert res.n_cached == len(tones)


def test_cache_is_per_parameter_set(tones, tmp_path, count_calls):
    cache = tmp_path / "cache"
    extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    other = TINY.replace(n_mels=16)
    count_calls.clear()
    res = extract_features(tones, other, cache_dir=cache, workers=1, progress=False)
    assert len(count_calls) == len(tones) and res.stack().shape[1:] == other.shape
    # generation-only parameters share the cache
    count_calls.clear()
    res = extract_features(
        tones, TINY.replace(griffin_lim_iters=100), cache_dir=cache, workers=1, progress=False
    )
    assert count_calls == [] and res.n_cached == len(tones)


def test_silent_flag_survives_the_cache(tmp_path, count_calls):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(4000), 16000)
    cache = tmp_path / "cache"
    first = extract_features([p], TINY, cache_dir=cache, workers=1, progress=False)
    second = extract_features([p], TINY, cache_dir=cache, workers=1, progress=False)
    assert len(count_calls) == 1
    for res in (first, second):
        assert res.items[0].ok and res.items[0].silent
        assert not np.any(res.items[0].features)
    assert second.items[0].cached


def test_failed_files_are_not_cached(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    cache = tmp_path / "cache"
    extract_features([bad], TINY, cache_dir=cache, workers=1, progress=False)
    assert not cache.exists() or _cache_files(cache) == []


def test_corrupt_cache_entry_is_recomputed(tones, tmp_path, count_calls, caplog):
    cache_dir = tmp_path / "cache"
    first = extract_features(tones[:2], TINY, cache_dir=cache_dir, workers=1, progress=False)
    cache = FeatureCache(cache_dir, TINY)
    entry = cache._path(file_signature(tones[0]))
    entry.write_bytes(b"garbage")
    count_calls.clear()
    res = extract_features(tones[:2], TINY, cache_dir=cache_dir, workers=1, progress=False)
    assert count_calls == [str(tones[0])]
    np.testing.assert_array_equal(res.stack(), first.stack())
    assert "ignoring cache entry" in caplog.text and str(entry) in caplog.text
    # an entry of the wrong shape is a miss too, named with what it holds
    entry.write_bytes(encode_cache_entry(np.zeros((3, 3), dtype=np.float32), False))
    assert cache.get(file_signature(tones[0])) is None
    assert "holds float32 (3, 3)" in caplog.text
    # and so is one cut off (its CRC-32 no longer matches)
    extract_features(tones[:1], TINY, cache_dir=cache_dir, workers=1, progress=False)
    entry.write_bytes(entry.read_bytes()[:-100])
    assert cache.get(file_signature(tones[0])) is None and not entry.exists()


def test_flipped_bytes_in_a_cache_entry_are_caught_and_recomputed(
    tones, tmp_path, count_calls, caplog
):
    cache_dir = tmp_path / "cache"
    first = extract_features(tones[:2], TINY, cache_dir=cache_dir, workers=1, progress=False)
    entry = FeatureCache(cache_dir, TINY)._path(file_signature(tones[1]))
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 3] ^= 0x40  # inside the features array: still a well-formed file
    entry.write_bytes(bytes(raw))
    count_calls.clear()
    res = extract_features(tones[:2], TINY, cache_dir=cache_dir, workers=1, progress=False)
    assert count_calls == [str(tones[1])] and not res.items[1].cached
    np.testing.assert_array_equal(res.stack(), first.stack())
    assert str(entry) in caplog.text and "CRC" in caplog.text
    count_calls.clear()  # the recomputed entry was written back and is served next time
    assert (
        extract_features(tones[:2], TINY, cache_dir=cache_dir, workers=1, progress=False).n_cached
        == 2
        and count_calls == []
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1.5])
def test_cached_features_no_clip_can_have_are_recomputed(tones, tmp_path, count_calls, caplog, bad):
    cache_dir = tmp_path / "cache"
    first = extract_features(tones[:1], TINY, cache_dir=cache_dir, workers=1, progress=False)
    entry = FeatureCache(cache_dir, TINY)._path(file_signature(tones[0]))
    # a perfectly valid entry (correct checksum), but full of values features never hold
    entry.write_bytes(encode_cache_entry(np.full(TINY.shape, bad, dtype=np.float32), False))
    count_calls.clear()
    res = extract_features(tones[:1], TINY, cache_dir=cache_dir, workers=1, progress=False)
    assert count_calls == [str(tones[0])] and not res.items[0].cached
    np.testing.assert_array_equal(res.stack(), first.stack())
    assert np.all(np.isfinite(res.stack()))
    assert str(entry) in caplog.text


def test_cache_never_loads_pickles(tmp_path):
    cache = FeatureCache(tmp_path, TINY)
    key = "ab" * 20
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert cache.get(key) is None  # refused, not unpickled


def test_file_signature_tracks_path_size_mtime_offset(tones, tmp_path):
    a = file_signature(tones[0])
    assert a == file_signature(tones[0]) == file_signature(str(tones[0]))
    assert a != file_signature(tones[1])
    assert a != file_signature(tones[0], offset=0.5)
    copy = tmp_path / "copy.wav"
    shutil.copy2(tones[0], copy)  # same size and mtime, other path
    assert a != file_signature(copy)


# --- atomic writes ----------------------------------------------------------------------------


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("interrupted")
    assert target.read_text() == '{\n  "v": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_interrupted_cache_write_leaves_no_entry(tones, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # fails after the entry's bytes were written
    with pytest.raises(OSError, match="disk full"):
        extract_features(tones[:1], TINY, cache_dir=tmp_path / "cache", workers=1, progress=False)
    monkeypatch.undo()
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_interrupted_extraction_keeps_what_was_done(tones, tmp_path, monkeypatch):
    """Ctrl-C part way: the next run computes only the files not done yet."""
    import samplevae.features as feat_mod

    real, calls, stop = feat_mod._compute_one, [], [4]

    def interrupted(args):
        calls.append(str(args[0]))
        if len(calls) == stop[0]:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(feat_mod, "_compute_one", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    calls.clear()
    stop[0] = None
    res = extract_features(tones, TINY, cache_dir=cache, workers=1, progress=False)
    assert res.n_cached == 3 and calls == [str(p) for p in tones[3:]]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {
            "sample_rate": 22050,
            "n_fft": 2048,
            "hop_length": 512,
            "n_mels": 64,
            "fmin": 30.0,
            "fmax": 8000.0,
        },
        {"sample_rate": 44100, "n_fft": 512, "hop_length": 128, "n_mels": 40},
    ],
)
def test_mel_basis_is_librosas(kw):
    import librosa

    p = AudioParams(**kw)
    ref = librosa.filters.mel(
        sr=p.sample_rate, n_fft=p.n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax_hz
    )
    got = mel_basis(p)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-7)


@pytest.mark.parametrize("sr", [8000, 44100, 48000])
def test_resampling_is_librosas_soxr_hq(rng, sr):
    import librosa

    from samplevae.audio import resample

    y = rng.standard_normal(sr // 3 + 7).astype(np.float32)
    ref = librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    got = resample(y, sr, 16000)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def test_decoding_and_features_start_without_librosa(tmp_path):
    """Worker processes decode and take features without importing librosa, scipy.signal or
    numba (seconds of start-up per worker, most of a small library build)."""
    import subprocess
    import sys

    path = tmp_path / "a.wav"
    sf.write(path, tone(440.0, 44100, 0.5), 44100)  # resampled to 16 kHz on load
    code = (
        "import sys; from samplevae.library import _file_job; "
        "from samplevae.params import AudioParams; "
        f"o, f, t, e = _file_job(({str(path)!r}, AudioParams(), None, None)); "
        "assert e is None and f.shape == (1, 128, 125), e; "
        "print(sorted(m for m in ('librosa', 'scipy.signal', 'numba', 'tensorflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_texture_gives_a_smooth_spectrogram_its_bin_to_bin_fluctuation_back():
    """``texture_db`` > 0: the audio of a smooth spectrogram (what a decoder gives) comes
    back with real spectra's bin-to-bin roughness, reproducibly by seed; 0 is unchanged."""
    p = DEFAULT
    f = np.zeros(p.shape, np.float32)
    f[20:100, 10:60] = np.linspace(0.9, 0.5, 50)[None, :]  # a smooth band that decays

    def roughness(y):  # mean |second difference| along mel of the loud part, dB
        g = features(y, p)[25:95, 15:50] * p.top_db
        return float(np.mean(np.abs(np.diff(g, n=2, axis=0))))

    plain = audio_from_features(f, p, seed=1)
    np.testing.assert_array_equal(plain, audio_from_features(f, p, seed=1, texture_db=0.0))
    rough = audio_from_features(f, p, seed=1, texture_db=8.0)
    np.testing.assert_array_equal(rough, audio_from_features(f, p, seed=1, texture_db=8.0))
    assert not np.allclose(rough, audio_from_features(f, p, seed=2, texture_db=8.0))
    assert rough.shape == plain.shape and np.isclose(np.abs(rough).max(), 0.95)
    assert roughness(rough) > 1.5 * roughness(plain)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ParameterError, match="texture_db"):
            audio_from_features(f, p, texture_db=bad)
