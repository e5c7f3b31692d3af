"""Loading audio: every format, letter case, sample rate, bit depth and channel layout, offsets,
padding and cropping. Content is checked, not only shapes. (Bad input: see test_dataset.py.)"""

from __future__ import annotations

import io
import os
import stat
import time

import numpy as np
import pytest
import soundfile as sf

from samplevae.audio import (
    AUDIO_EXTENSIONS,
    fit_length,
    is_audio_file,
    is_silent,
    load_audio,
    read_audio,
    wav_bytes,
    write_wav,
)
from samplevae.errors import AudioLoadError
from samplevae.params import AudioParams

P = AudioParams()  # 16 kHz, 2.0 s


def tone(freq: float, sr: int, sec: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * sec))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest spectral peak (Hann window, bin width sr / len(x))."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * sr / x.size)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- formats ----------------------------------------------------------------------------------

FORMATS = [  # (extension, libsndfile format, subtype)
    (".wav", "WAV", "PCM_16"),
    (".WAV", "WAV", "PCM_16"),
    (".aif", "AIFF", "PCM_16"),
    (".AIF", "AIFF", "PCM_24"),
    (".aiff", "AIFF", "PCM_16"),
    (".AIFF", "AIFF", "FLOAT"),
    (".flac", "FLAC", "PCM_16"),
    (".FLAC", "FLAC", "PCM_24"),
    (".ogg", "OGG", "VORBIS"),
    (".Ogg", "OGG", "VORBIS"),
    (".mp3", "MP3", "MPEG_LAYER_III"),
    (".MP3", "MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize(
    ("ext", "fmt", "subtype"), FORMATS, ids=[f[0] + "-" + f[2] for f in FORMATS]
)
def test_every_format_loads_with_its_pitch(tmp_path, ext, fmt, subtype):
    sr, freq = 44100, 440.0
    path = tmp_path / f"tone{ext}"
    sf.write(path, tone(freq, sr, 1.0), sr, format=fmt, subtype=subtype)
    assert is_audio_file(path)
    y = load_audio(path, P)
    assert y.shape == (P.n_samples,) and y.dtype == np.float32
    head = y[: P.sample_rate]  # the 1 s of tone (lossy codecs may shift it by a few ms)
    assert abs(peak_hz(head, P.sample_rate) - freq) <= 1.0
    assert 0.4 < np.max(np.abs(head)) < 0.6
    assert np.max(np.abs(y[int(1.2 * P.sample_rate) :])) < 0.01  # then the zero padding


def test_every_listed_extension_is_covered():
    assert {f[0].lower() for f in FORMATS} == set(AUDIO_EXTENSIONS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.wav", True),
        ("a.WAV", True),
        ("a.Aif", True),
        ("a.aiff", True),
        ("a.flac", True),
        ("a.OGG", True),
        ("a.mp3", True),
        ("dir.with.dots/a.mp3", True),
        ("a.txt", False),
        ("a.wav.txt", False),
        ("a.npy", False),
        ("wav", False),
        (".wav", False),
        ("a.m4a", False),
    ],
)
def test_is_audio_file(name, expected):
    assert is_audio_file(name) is expected


# --- sample rates -----------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_any_sample_rate_is_resampled_keeping_pitch_and_level(tmp_path, sr, freq):
    path = tmp_path / f"t{sr}.wav"
    sf.write(path, tone(freq, sr, 1.0), sr, subtype="FLOAT")
    y = load_audio(path, P)
    assert y.shape == (P.n_samples,)
    head = y[: P.sample_rate]
    assert abs(peak_hz(head, P.sample_rate) - freq) <= 1.0
    # level kept (away from the edges, where the resampling filter rings)
    assert np.max(np.abs(head[1000:-1000])) == pytest.approx(0.5, abs=0.02)
    # duration kept: 1 s of tone, then silence
    env = np.abs(y)
    assert env[int(0.95 * P.sample_rate) : int(0.99 * P.sample_rate)].max() > 0.4
    assert env[int(1.05 * P.sample_rate) :].max() < 0.01


@pytest.mark.parametrize("target", [8000, 22050, 44100])
def test_loading_at_other_model_rates(tmp_path, target):
    path = tmp_path / "t.wav"
    sf.write(path, tone(1000.0, 44100, 1.0), 44100)
    params = AudioParams(sample_rate=target, sample_sec=1.0)
    y = load_audio(path, params)
    assert y.shape == (target,) == (params.n_samples,)
    assert abs(peak_hz(y, target) - 1000.0) <= 1.0


def test_read_audio_keeps_native_rate_by_default(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, tone(440.0, 22050, 0.5), 22050)
    y, sr = read_audio(path)
    assert sr == 22050 and y.shape == (11025,) and y.dtype == np.float32
    y2, sr2 = read_audio(path, sample_rate=16000)
    assert sr2 == 16000 and abs(y2.size - 8000) <= 1


# --- bit depths -------------------------------------------------------------------------------

DEPTHS = [  # (extension, format, subtype, quantisation step)
    (".wav", "WAV", "PCM_U8", 1 / 128),
    (".wav", "WAV", "PCM_16", 1 / 2**15),
    (".wav", "WAV", "PCM_24", 1 / 2**23),
    (".wav", "WAV", "PCM_32", 1 / 2**31),
    (".wav", "WAV", "FLOAT", 1e-7),
    (".wav", "WAV", "DOUBLE", 1e-7),
    (".aiff", "AIFF", "PCM_16", 1 / 2**15),
    (".aiff", "AIFF", "PCM_24", 1 / 2**23),
    (".aiff", "AIFF", "PCM_32", 1 / 2**31),
    (".aiff", "AIFF", "FLOAT", 1e-7),
    (".aiff", "AIFF", "DOUBLE", 1e-7),
    (".flac", "FLAC", "PCM_16", 1 / 2**15),
    (".flac", "FLAC", "PCM_24", 1 / 2**23),
]


@pytest.mark.parametrize(
    ("ext", "fmt", "subtype", "step"), DEPTHS, ids=[f"{d[1]}-{d[2]}" for d in DEPTHS]
)
def test_every_bit_depth_reads_the_samples(tmp_path, rng, ext, fmt, subtype, step):
    x = rng.uniform(-0.9, 0.9, 16000).astype(np.float32)
    path = tmp_path / f"noise{ext}"
    sf.write(path, x, 16000, format=fmt, subtype=subtype)
    y = load_audio(path, P)  # native rate = model rate: no resampling
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[:16000], x, atol=step + 1e-7)
    assert not np.any(y[16000:])


# --- channels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 4])
@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff"])
def test_channels_are_mixed_down_to_their_mean(tmp_path, channels, ext):
    gains = np.array([0.8, 0.2, -0.4, 0.6][:channels], dtype=np.float32)
    x = tone(440.0, 16000, 1.0, amp=1.0)
    multi = np.stack([g * x for g in gains], axis=1)
    path = tmp_path / f"ch{channels}{ext}"
    sf.write(path, multi, 16000, subtype="PCM_24")
    y, sr = read_audio(path)
    assert y.ndim == 1 and sr == 16000
    np.testing.assert_allclose(y, gains.mean() * x, atol=1e-5)
    np.testing.assert_allclose(load_audio(path, P)[:16000], gains.mean() * x, atol=1e-5)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_opposite_stereo_channels_cancel(tmp_path, subtype):
    x = tone(440.0, 44100, 0.5)
    path = tmp_path / "lr.wav"
    sf.write(path, np.stack([x, -x], axis=1), 44100, subtype=subtype)
    y = load_audio(path, P)
    assert np.max(np.abs(y)) < 1e-4  # 16-bit rounding leaves at most about one LSB
    if subtype == "FLOAT":
        assert is_silent(y)


# --- offset, padding, cropping ----------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 1.0, 2.5])
def test_offset_picks_the_right_slice(tmp_path, rng, offset):
    x = rng.uniform(-0.9, 0.9, 3 * 16000).astype(np.float32)  # 3 s of distinct samples
    path = tmp_path / "noise.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    y = load_audio(path, P, offset=offset)
    start = int(offset * 16000)
    expected = fit_length(x[start:], P.n_samples)
    np.testing.assert_array_equal(y, expected)


def test_offset_with_resampling_shifts_the_content(tmp_path):
    # 1 s of 440 Hz then 1 s of 2000 Hz at 44.1 kHz; offset 1.0 s must start on the 2000 Hz part
    sr = 44100
    x = np.concatenate([tone(440.0, sr, 1.0), tone(2000.0, sr, 1.0)])
    path = tmp_path / "two.flac"
    sf.write(path, x, sr, subtype="PCM_24")
    y0 = load_audio(path, P)
    y1 = load_audio(path, P, offset=1.0)
    assert abs(peak_hz(y0[1000:15000], 16000) - 440.0) <= 2.0
    assert abs(peak_hz(y1[1000:15000], 16000) - 2000.0) <= 2.0
    assert np.max(np.abs(y1[int(1.05 * 16000) :])) < 0.01  # past the file's end: padding


def test_read_audio_offset_and_duration(tmp_path, rng):
    x = rng.uniform(-0.5, 0.5, 16000).astype(np.float32)
    path = tmp_path / "n.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    y, _ = read_audio(path, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(y[:8000], x[4000:12000])


@pytest.mark.parametrize("offset", [-0.1, 1.0, 5.0])
def test_offset_outside_the_file_is_an_error(tmp_path, offset):
    path = tmp_path / "short.wav"
    sf.write(path, tone(440.0, 16000, 1.0), 16000)
    with pytest.raises(AudioLoadError, match="offset") as info:
        load_audio(path, P, offset=offset)
    assert info.value.path == str(path)


@pytest.mark.parametrize("sec", [0.01, 0.5, 1.99, 2.0, 2.01, 5.0])
def test_pad_or_crop_to_clip_length(tmp_path, rng, sec):
    n = int(round(sec * 16000))
    x = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    y = load_audio(path, P)
    assert y.shape == (P.n_samples,)
    k = min(n, P.n_samples)
    np.testing.assert_array_equal(y[:k], x[:k])
    assert not np.any(y[k:])


@pytest.mark.parametrize(("n_in", "n_out"), [(0, 5), (3, 5), (5, 5), (9, 5)])
def test_fit_length(n_in, n_out):
    x = np.arange(1, n_in + 1, dtype=np.float64)
    y = fit_length(x, n_out)
    assert y.shape == (n_out,) and y.dtype == np.float32
    k = min(n_in, n_out)
    np.testing.assert_array_equal(y[:k], x[:k])
    assert not np.any(y[k:])


def test_fit_length_copies():
    x = np.ones(10, dtype=np.float32)
    y = fit_length(x, 5)
    y[0] = 7
    assert x[0] == 1


@pytest.mark.parametrize(
    ("peak", "silent"), [(0.0, True), (1e-7, True), (1e-3, False), (1.0, False)]
)
def test_is_silent(peak, silent):
    x = np.zeros(100, dtype=np.float32)
    x[50] = peak
    assert is_silent(x) is silent
    assert is_silent(np.zeros(0))


def test_paths_may_be_str_or_path(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, tone(440.0, 16000, 0.1), 16000)
    np.testing.assert_array_equal(load_audio(str(path)), load_audio(path))


# --- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtype", "tol"), [("PCM_16", 1 / 2**15), ("PCM_24", 1 / 2**23), ("FLOAT", 0.0)]
)
def test_write_wav_round_trip(tmp_path, rng, subtype, tol):
    x = rng.uniform(-0.9, 0.9, 4000).astype(np.float32)
    path = write_wav(tmp_path / "sub" / "out.wav", x, 16000, subtype=subtype)
    assert path.exists() and sorted(os.listdir(path.parent)) == ["out.wav"]  # no temp file left
    y, sr = read_audio(path)
    assert sr == 16000
    np.testing.assert_allclose(y, x, atol=tol + 1e-7)
    assert wav_bytes(x, 16000, subtype=subtype) == path.read_bytes()


def test_float_wav_bytes_do_not_depend_on_the_time_of_writing():
    # libsndfile stamps a float WAV's PEAK chunk with the current second: cross a second
    # boundary between two encodings of the same signal and they must still be identical.
    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    first = wav_bytes(x, 16000, subtype="FLOAT")
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)
    second = wav_bytes(x, 16000, subtype="FLOAT")
    assert b"PEAK" in first and first == second
    y, sr = sf.read(io.BytesIO(second), dtype="float32")
    np.testing.assert_array_equal(y, x)
    assert sr == 16000


def test_written_files_get_normal_permissions(tmp_path):
    path = write_wav(tmp_path / "out.wav", np.zeros(10), 16000)
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_wav_bytes_stereo():
    data = wav_bytes(np.zeros((100, 2)), 22050)
    info = sf.info(io.BytesIO(data))
    assert (info.channels, info.samplerate, info.frames, info.subtype) == (2, 22050, 100, "PCM_16")
