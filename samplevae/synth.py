"""The embedded default data: a seeded, procedural drum kit.

Nine classes, as the original's drum model: kick, snare, hihat_closed, hihat_open,
tom_low, tom_mid, tom_high, clap, rim. Every sample draws its own synthesis parameters
(pitch, decay, noise colour, envelope, drive, level), so classes vary inside and overlap at
their edges (a high kick and a low tom, a long closed and a short open hi-hat) and a model
has something to learn. The same seed writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import signal

from samplevae.audio import wav_bytes
from samplevae.errors import ParameterError
from samplevae.io import atomic_write_bytes

__all__ = ["DRUM_CLASSES", "synth_hit", "make_kit"]

DRUM_CLASSES: tuple[str, ...] = (
    "kick",
    "snare",
    "hihat_closed",
    "hihat_open",
    "tom_low",
    "tom_mid",
    "tom_high",
    "clap",
    "rim",
)
KIT_SAMPLE_RATE = 44100


def _t(dur: float, sr: int) -> np.ndarray:
    return np.arange(int(dur * sr)) / sr


def _env(t: np.ndarray, decay: float, attack: float = 0.001) -> np.ndarray:
    """Linear attack then exponential decay; ``decay`` is the time to fall by 60 dB."""
    att = np.clip(t / max(attack, 1e-6), 0, 1)
    return att * np.exp(-6.9 * t / decay)


def _noise(rng: np.random.Generator, n: int, colour: float) -> np.ndarray:
    """Noise with spectral slope ``colour`` (0 white, -1 pink-ish, +1 blue-ish)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size) + 1.0
    spec *= f ** (colour / 2)
    x = np.fft.irfft(spec, n)
    return x / (np.max(np.abs(x)) + 1e-12)


def _band(x: np.ndarray, sr: int, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    nyq = sr / 2
    if lo and hi:
        sos = signal.butter(order, [lo / nyq, min(hi / nyq, 0.99)], btype="band", output="sos")
    elif lo:
        sos = signal.butter(order, lo / nyq, btype="high", output="sos")
    else:
        sos = signal.butter(order, min(hi / nyq, 0.99), btype="low", output="sos")
    return signal.sosfilt(sos, x)


def _sweep_sine(
    t: np.ndarray, f_start: float, f_end: float, sweep: float, phase: float
) -> np.ndarray:
    freq = f_end + (f_start - f_end) * np.exp(-t / sweep)
    return np.sin(2 * np.pi * np.cumsum(freq) / (1 / (t[1] - t[0])) + phase)


def _kick(rng, sr):
    dur = rng.uniform(0.35, 0.9)
    t = _t(dur, sr)
    f0 = rng.uniform(42, 75)
    body = _sweep_sine(t, f0 * rng.uniform(2.5, 6), f0, rng.uniform(0.01, 0.05), rng.uniform(0, 1))
    body *= _env(t, rng.uniform(0.2, 0.7), attack=0.002)
    click = _band(_noise(rng, t.size, rng.uniform(-0.5, 0.5)), sr, 1000, 6000) * _env(t, 0.015)
    x = body + rng.uniform(0.05, 0.4) * click
    return np.tanh(rng.uniform(1, 4) * x)


def _snare(rng, sr):
    dur = rng.uniform(0.25, 0.6)
    t = _t(dur, sr)
    f0 = rng.uniform(160, 260)
    tone = (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * f0 * 1.6 * t)) * _env(
        t, rng.uniform(0.06, 0.15)
    )
    noise = _band(
        _noise(rng, t.size, rng.uniform(-0.6, 0.4)),
        sr,
        rng.uniform(600, 2000),
        rng.uniform(6000, 12000),
    )
    noise *= _env(t, rng.uniform(0.12, 0.35))
    mix = rng.uniform(0.3, 0.7)
    return (1 - mix) * tone + mix * 1.5 * noise


def _metal(rng, sr, t):
    """TR-808 style hi-hat source: six square waves at inharmonic ratios."""
    base = rng.uniform(300, 460)
    ratios = np.array([2.0, 3.0, 4.16, 5.43, 6.79, 8.21])
    x = sum(signal.square(2 * np.pi * base * r * t + rng.uniform(0, 6.28)) for r in ratios)
    return x / len(ratios)


def _hihat(rng, sr, decay):
    dur = min(max(decay * 1.3, 0.12), 1.6)
    t = _t(dur, sr)
    metal = _metal(rng, sr, t)
    noise = _noise(rng, t.size, rng.uniform(0.0, 1.0))
    x = rng.uniform(0.3, 0.7) * metal + noise
    x = _band(x, sr, rng.uniform(5000, 8000), None, order=3)
    return x * _env(t, decay)


def _hihat_closed(rng, sr):
    return _hihat(rng, sr, rng.uniform(0.03, 0.12))


def _hihat_open(rng, sr):
    return _hihat(rng, sr, rng.uniform(0.3, 1.0))


def _tom(rng, sr, lo, hi):
    dur = rng.uniform(0.4, 0.9)
    t = _t(dur, sr)
    f0 = rng.uniform(lo, hi)
    body = _sweep_sine(t, f0 * rng.uniform(1.1, 1.6), f0, rng.uniform(0.03, 0.1), rng.uniform(0, 1))
    body *= _env(t, rng.uniform(0.25, 0.7), attack=0.002)
    noise = _band(_noise(rng, t.size, -0.5), sr, 200, 3000) * _env(t, 0.04)
    return np.tanh(rng.uniform(1, 2) * (body + rng.uniform(0.05, 0.25) * noise))


def _clap(rng, sr):
    dur = rng.uniform(0.3, 0.6)
    t = _t(dur, sr)
    noise = _band(
        _noise(rng, t.size, rng.uniform(-0.4, 0.4)),
        sr,
        rng.uniform(700, 1200),
        rng.uniform(2500, 5000),
    )
    env = np.zeros_like(t)
    start = 0.0
    for _ in range(int(rng.integers(3, 5))):
        env += np.where(t >= start, _env(np.maximum(t - start, 0), 0.03), 0)
        start += rng.uniform(0.007, 0.016)
    env += np.where(t >= start, 0.7 * _env(np.maximum(t - start, 0), rng.uniform(0.12, 0.3)), 0)
    return noise * env


def _rim(rng, sr):
    dur = rng.uniform(0.08, 0.2)
    t = _t(dur, sr)
    f0 = rng.uniform(380, 650)
    tone = np.sin(2 * np.pi * f0 * t) + 0.6 * np.sin(2 * np.pi * f0 * rng.uniform(2.3, 3.1) * t)
    tone *= _env(t, rng.uniform(0.02, 0.06), attack=0.0003)
    click = _band(_noise(rng, t.size, 0.5), sr, 2000, 9000) * _env(t, 0.006, attack=0.0002)
    return tone + rng.uniform(0.3, 1.0) * click


_SYNTHS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "kick": _kick,
    "snare": _snare,
    "hihat_closed": _hihat_closed,
    "hihat_open": _hihat_open,
    "tom_low": lambda rng, sr: _tom(rng, sr, 75, 115),
    "tom_mid": lambda rng, sr: _tom(rng, sr, 110, 170),
    "tom_high": lambda rng, sr: _tom(rng, sr, 165, 260),
    "clap": _clap,
    "rim": _rim,
}


def synth_hit(
    name: str, seed: int | Sequence[int] = 0, sample_rate: int = KIT_SAMPLE_RATE
) -> np.ndarray:
    """One drum hit of class ``name`` with parameters drawn from ``seed``.

    Returns
    -------
    np.ndarray [shape=(n,)], float32, peak between -12 and -0.5 dBFS, a few ms of
    random lead-in silence.
    """
    if name not in _SYNTHS:
        raise ParameterError(f"unknown drum class {name!r}; choose from {', '.join(DRUM_CLASSES)}")
    rng = np.random.default_rng(seed)
    x = _SYNTHS[name](rng, sample_rate)
    x = x / (np.max(np.abs(x)) + 1e-12)
    level = 10 ** (rng.uniform(-12, -0.5) / 20)
    lead = np.zeros(int(rng.uniform(0, 0.004) * sample_rate))
    return np.concatenate([lead, x * level]).astype(np.float32)


def make_kit(
    out_dir: str | Path,
    *,
    per_class: int = 40,
    seed: int = 0,
    classes: Sequence[str] = DRUM_CLASSES,
    sample_rate: int = KIT_SAMPLE_RATE,
    progress: bool = False,
) -> list[Path]:
    """Write a synthetic drum kit: ``out_dir/<class>/<class>_NNN.wav`` (16-bit PCM).

    Parameters
    ----------
    out_dir : folder (created)
    per_class : samples per class
    seed : the same seed writes the same bytes
    classes : a subset of :data:`DRUM_CLASSES`
    sample_rate : Hz of the written files

    Returns
    -------
    list of Path, every file written, class by class.
    """
    from tqdm.auto import tqdm

    if per_class < 1:
        raise ParameterError(f"per_class must be >= 1, got {per_class}")
    out = Path(out_dir)
    written = []
    jobs = [
        (ci, name, i)
        for ci, name in enumerate(DRUM_CLASSES)
        if name in classes
        for i in range(per_class)
    ]
    unknown = set(classes) - set(DRUM_CLASSES)
    if unknown:
        raise ParameterError(f"unknown drum class(es) {sorted(unknown)}")
    for ci, name, i in tqdm(jobs, desc="synth kit", unit="file", disable=not progress):
        audio = synth_hit(name, seed=(seed, ci, i), sample_rate=sample_rate)
        path = out / name / f"{name}_{i:03d}.wav"
        atomic_write_bytes(path, wav_bytes(audio, sample_rate))
        written.append(path)
    return written
