"""One-shots, not fixed-length clips: end a generated sound where it has decayed.

The decoder always writes a whole clip (2 s by default), and Griffin-Lim turns the
spectrogram's floor (``top_db`` below its peak) into a constant hiss after the hit. A drum
sample should end with its sound. :func:`trim_one_shot` finds where the sound falls for good
below a gate, keeps a short release after it, fades out and sets the peak level, so the file
drops into a sampler as is.

The gate is the higher of ``threshold_db`` below the peak and ``margin_db`` above the clip's
own noise floor (a low percentile of its short-time level: the decoder's floor). A sound that
never decays (its floor is within ``sustain_db`` of its peak: a sustained noise or tone) is
kept whole. Leading audio is never cut, so the attack is intact.

Imports without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from samplevae.audio import SILENCE_PEAK
from samplevae.errors import ParameterError

__all__ = ["trim_one_shot", "envelope_db", "one_shot_end"]

FRAME_SEC = 0.010  # short-time level every 10 ms


def envelope_db(audio: np.ndarray, sample_rate: int, frame_sec: float = FRAME_SEC) -> np.ndarray:
    """RMS level of consecutive ``frame_sec`` frames, in dB relative to the loudest frame
    (``[ceil(n / frame)]``; -inf for silent frames, all -inf for a silent signal)."""
    y = np.asarray(audio, dtype=np.float64).reshape(-1)
    frame = max(1, int(round(frame_sec * sample_rate)))
    n = -(-y.size // frame)
    if n == 0:
        return np.zeros(0)
    padded = np.zeros(n * frame)
    padded[: y.size] = y
    rms = np.sqrt(np.mean(padded.reshape(n, frame) ** 2, axis=1))
    top = rms.max()
    if top <= 0:
        return np.full(n, -np.inf)
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(rms / top)


def one_shot_end(
    audio: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = -50.0,
    margin_db: float = 6.0,
    floor_percentile: float = 10.0,
    sustain_db: float = 20.0,
    release_sec: float = 0.02,
) -> int:
    """The sample index where the one-shot ends (``len(audio)`` if it never decays).

    See :func:`trim_one_shot` for the parameters."""
    y = np.asarray(audio).reshape(-1)
    env = envelope_db(y, sample_rate)
    if env.size == 0 or not np.isfinite(env).any():
        return 0
    finite = env[np.isfinite(env)]
    floor = float(np.percentile(finite, floor_percentile)) if finite.size else -np.inf
    if floor > -sustain_db:
        return y.size  # never decays far below its peak: keep it whole
    gate = max(threshold_db, floor + margin_db)
    above = np.flatnonzero(env >= gate)
    frame = max(1, int(round(FRAME_SEC * sample_rate)))
    end = (int(above[-1]) + 1) * frame + int(round(release_sec * sample_rate))
    return min(y.size, end)


def trim_one_shot(
    audio: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = -50.0,
    margin_db: float = 6.0,
    floor_percentile: float = 10.0,
    sustain_db: float = 20.0,
    release_sec: float = 0.02,
    fade_sec: float = 0.01,
    min_sec: float = 0.05,
    peak: float | None = 0.95,
) -> np.ndarray:
    """The sound ended where it has decayed, with a short fade-out, peak level set.

    Parameters
    ----------
    audio : [n] mono signal
    sample_rate : Hz
    threshold_db : the gate, in dB below the loudest 10 ms frame (-50)
    margin_db : ... or this far above the clip's noise floor, whichever is higher (6)
    floor_percentile : the noise floor is this percentile of the 10 ms levels (10)
    sustain_db : a clip whose floor is less than this below its peak never decays and is
        kept whole (20)
    release_sec : kept after the last frame above the gate (0.02)
    fade_sec : length of the (half-cosine) fade-out at the end (0.01)
    min_sec : shortest result (0.05)
    peak : peak amplitude of the result; None keeps the level

    Returns
    -------
    np.ndarray [shape=(m,)], float32, ``m <= n``
        A signal that is silent (peak below ``samplevae.audio.SILENCE_PEAK``) gives
        ``min_sec`` of silence (all zeros), never an error: callers can tell by its peak.
    """
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be > 0, got {sample_rate}")
    if fade_sec < 0 or release_sec < 0 or min_sec < 0:
        raise ParameterError("fade_sec, release_sec and min_sec must be >= 0")
    if peak is not None and not 0 < peak <= 1:
        raise ParameterError(f"peak must be in (0, 1] or None, got {peak}")
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    n_min = min(y.size, int(round(min_sec * sample_rate)))
    if y.size == 0 or float(np.max(np.abs(y))) < SILENCE_PEAK:
        return np.zeros(n_min, dtype=np.float32)
    end = max(
        n_min,
        one_shot_end(
            y,
            sample_rate,
            threshold_db=threshold_db,
            margin_db=margin_db,
            floor_percentile=floor_percentile,
            sustain_db=sustain_db,
            release_sec=release_sec,
        ),
    )
    out = y[:end].copy()
    n_fade = min(end, int(round(fade_sec * sample_rate)))
    if n_fade > 0:  # the end never clicks, cut or not
        out[end - n_fade :] *= (0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_fade)))).astype(
            np.float32
        )
    if peak is not None:
        top = float(np.max(np.abs(out)))
        if top > 0:
            out *= peak / top
    return out.astype(np.float32)
