"""Onset segmentation of long files, so that every hit in a loop or a recording becomes its
own library entry.

Candidate onsets come from ``librosa.onset.onset_detect`` on a spectral-flux envelope
(64-band log-mel, 8 ms hop, 32 ms window). Noisy decays (open hi-hats, cymbals, reverb
tails) make such envelopes twitch, which made the original's segmentation "too sensitive";
so every candidate must also pass these gates, in this order:

* **rise**: in at least one of six frequency bands (split at 200, 500, 1250, 3000 and
  6000 Hz; only bands within 20 dB of the loudest count), the level just after the
  candidate must rise ``min_rise_db`` above its maximum over the 30 ms before — the
  decaying tail of the previous hit. Fluctuations of a decay do not rise that far; a new
  hit on top of it does. A "rise" after which the sound is gone (an edit or a gate cutting
  a sound off, heard as a click) is not an onset.
* **level**: the candidate's stretch (to the next candidate) must peak no more than
  ``-min_level_db`` dB below the file's peak (drops noise and very quiet events).
* **gap**: at least ``min_gap`` seconds after the previous kept onset (greedy from the left).

With ``backtrack`` the onset moves back from the envelope peak to the quiet just before it
(the last energy minimum within 50 ms) and then forward to the first sample whose 3 ms RMS
rises 6 dB above the background there, minus 2 ms: a segment starts just before the
attack. A first onset before ``snap_start`` moves to 0, as the original did. With
``max_segments``, the onsets with the largest rise are kept. This module does not import
TensorFlow.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samplevae.audio import SILENCE_PEAK, read_audio
from samplevae.errors import ParameterError
from samplevae.params import AudioParams, SegmentParams  # SegmentParams re-exported

__all__ = ["SegmentParams", "Slices", "segment_onsets", "segment_file", "slice_file"]

log = logging.getLogger(__name__)

_HOP_SEC = 0.008  # analysis hop
_WIN_SEC = 0.032  # analysis window (rounded to a power of two in samples)
_BAND_EDGES_HZ = (0.0, 200.0, 500.0, 1250.0, 3000.0, 6000.0)  # + Nyquist
_BAND_RANGE_DB = 20.0  # a band's rise counts if it is within this of the loudest band
_FLOOR_DB = -80.0  # band levels are floored this far below the file's loudest band
_AFTER_SEC = 0.03  # "after" level: max from the onset to this long after the peak
_BACKTRACK_SEC = 0.05  # how far before an envelope peak its energy minimum is looked for
_CUT_DB = 20.0  # energy falling this far right after a "rise" marks a cut, not a hit
_HOLD_SEC = 0.03  # "before" level: max over this long before the onset
_RMS_SEC = 0.003  # short-time RMS window of the start refinement
_PREROLL_SEC = 0.002  # a refined onset starts this much before the first rising sample


def segment_onsets(
    audio: np.ndarray, sample_rate: int, params: SegmentParams | None = None
) -> np.ndarray:
    """Onset times of the hits in a (long) signal.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)], mono, finite
    sample_rate : int, Hz
    params : SegmentParams

    Returns
    -------
    np.ndarray [shape=(n_onsets,)], float64 seconds, ascending, at least one element.
        The first is 0.0 when it was snapped; a signal without detectable hits (or
        silent) gives ``[0.0]``.
    """
    params = params or SegmentParams()
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"audio must be mono [n], got shape {y.shape}")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int | np.integer)
        or sample_rate < 1000
    ):
        raise ParameterError(f"sample_rate must be an integer >= 1000 Hz, got {sample_rate!r}")
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    sr = int(sample_rate)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < SILENCE_PEAK:
        return np.zeros(1)
    starts, strength = _candidates(y, sr, params)
    keep = _gate(y, sr, starts, strength, peak, params)
    onsets = starts[keep] / sr
    strength = strength[keep]
    if onsets.size and onsets[0] < params.snap_start:
        onsets[0] = 0.0
    if params.max_segments is not None and onsets.size > params.max_segments:
        best = np.sort(np.argsort(-strength, kind="stable")[: params.max_segments])
        onsets = onsets[best]
    if onsets.size == 0:
        return np.zeros(1)
    return onsets.astype(np.float64)


def segment_file(
    path: str | Path, audio_params: AudioParams, params: SegmentParams | None = None
) -> list[float]:
    """Onsets (seconds) of the segments of one file, read at ``audio_params.sample_rate``.

    Files no longer than ``audio_params.sample_sec`` are one segment: ``[0.0]``.

    Raises
    ------
    AudioLoadError
        The file cannot be read (names the file and the reason).
    """
    y, sr = read_audio(path, sample_rate=audio_params.sample_rate)
    if y.size <= audio_params.n_samples:
        return [0.0]
    onsets = segment_onsets(y, sr, params)
    log.debug("%s: %d segments", path, onsets.size)
    return [float(t) for t in onsets]


class Slices(list):
    """The slices written by :func:`slice_file` (a list of paths), with ``onsets`` (seconds
    into the source, one per slice) and ``sfz`` (the .sfz written, or None)."""

    def __init__(self, paths, onsets, sfz=None):
        super().__init__(paths)
        self.onsets = [float(t) for t in onsets]
        self.sfz = sfz


def slice_file(
    path: str | Path,
    out_dir: str | Path,
    params: SegmentParams | None = None,
    *,
    sfz: bool = False,
    overwrite: bool = False,
    onsets: Sequence[float] | None = None,
) -> Slices:
    """Cut a long take at its onsets: one wav per segment, ``<stem>_001.wav`` ...

    Onsets are detected on the file's mono mixdown at its own sample rate (or given as
    ``onsets``, seconds); each slice runs from its onset to the next one (the last to the
    end of the file), with the file's channels and sample rate, 24-bit (``FLOAT`` if the
    file is floating-point). Every file is written atomically (a temporary file renamed
    into place); the source is only read.

    Parameters
    ----------
    path : the long file
    out_dir : folder for the slices (created); names are ``safe_name(stem)_NNN.wav``
    params : segmentation settings (:class:`SegmentParams`)
    sfz : also write ``<stem>.sfz`` mapping slice ``i`` to MIDI key ``36 + i``
    overwrite : replace slices of an earlier run of the same names (else an error)
    onsets : use these onsets instead of detecting them (e.g. markers moved by hand)

    Returns
    -------
    Slices : a list of the slice paths written, in time order, with ``.onsets`` (seconds)
        and ``.sfz`` (the path of the .sfz, or None). Audio before the first onset (when
        it was not snapped to 0) is in no slice.

    Raises
    ------
    AudioLoadError
        The file cannot be read.
    SampleVAEError
        A slice would overwrite a file (without ``overwrite``), or the source itself.
    """
    import soundfile as sf

    from samplevae.errors import AudioLoadError, SampleVAEError
    from samplevae.io import atomic_path

    path = Path(path)
    y, sr = read_audio(path)
    if onsets is None:
        onsets_s = segment_onsets(y, sr, params)
    else:
        onsets_s = np.unique(np.asarray(onsets, dtype=np.float64))
        if (
            onsets_s.size == 0
            or not np.all(np.isfinite(onsets_s))
            or onsets_s[0] < 0
            or onsets_s[-1] * sr >= y.size
        ):
            raise ParameterError(
                f"onsets must be finite seconds within the file "
                f"(0 to {y.size / sr:.3f} s), got {list(onsets)[:5]}"
            )
    try:
        info = sf.info(str(path))
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioLoadError(path, f"not a readable audio file ({e})") from e
    subtype = "FLOAT" if info.subtype in ("FLOAT", "DOUBLE") else "PCM_24"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from samplevae.export import safe_name

    digits = max(3, len(str(onsets_s.size)))
    stem = safe_name(path.stem, "slice")
    if sfz and onsets_s.size > 92:
        raise SampleVAEError(
            f"{path}: {onsets_s.size} slices do not fit the MIDI keys 36-127 "
            "of an SFZ: raise min_rise_db or set max_segments"
        )
    bounds = np.append(np.round(onsets_s * sr).astype(np.int64), data.shape[0])
    targets = [out_dir / f"{stem}_{i + 1:0{digits}d}.wav" for i in range(onsets_s.size)]
    source = os.path.realpath(path)
    for t in targets + ([out_dir / f"{stem}.sfz"] if sfz else []):
        if os.path.realpath(t) == source:
            raise SampleVAEError(f"slice {t} would overwrite its source file")
        if t.exists() and not overwrite:
            raise SampleVAEError(f"{t} exists: choose another folder or pass overwrite=True")
    written = []
    for t, a, b in zip(targets, bounds[:-1], bounds[1:], strict=True):
        with atomic_path(t, suffix=".wav") as tmp:
            sf.write(str(tmp), data[a : max(b, a + 1)], sr, subtype=subtype, format="WAV")
        written.append(t)
    sfz_path = None
    if sfz:
        from samplevae.export import write_sfz

        sfz_path = write_sfz(out_dir / f"{stem}.sfz", [t.name for t in written], title=stem)
    log.info("%s: %d slices written to %s", path, len(written), out_dir)
    return Slices(written, bounds[:-1] / sr, sfz_path)


# --- internals ---------------------------------------------------------------------------


def _analysis(sr: int) -> tuple[int, int]:
    hop = max(1, int(round(_HOP_SEC * sr)))
    n_fft = 2 ** int(round(math.log2(_WIN_SEC * sr)))
    return hop, max(n_fft, 2 * hop)


def _frames(seconds: float, sr: int, hop: int) -> int:
    return int(round(seconds * sr / hop))


def _candidates(y: np.ndarray, sr: int, params: SegmentParams) -> tuple[np.ndarray, np.ndarray]:
    """Candidate onset samples (refined starts) and their rise in dB, before the gap/level gates.

    Returns
    -------
    starts : np.ndarray [shape=(c,)], int64 sample positions
    rise : np.ndarray [shape=(c,)], float64 dB (-inf for candidates failing the rise gate)
    """
    import librosa

    hop, n_fft = _analysis(sr)
    pad = n_fft  # leading silence: a hit at t=0 rises from nothing like any other
    yp = np.concatenate([np.zeros(pad, np.float32), y])
    S = np.abs(librosa.stft(yp, n_fft=n_fft, hop_length=hop, center=True)) ** 2
    n_mels = min(64, n_fft // 8)
    mel = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=n_mels, fmax=sr / 2)
    log_mel = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    env = librosa.onset.onset_strength(
        S=log_mel, sr=sr, hop_length=hop, lag=1, max_size=3, center=False
    )
    peaks = librosa.onset.onset_detect(
        onset_envelope=env,
        sr=sr,
        hop_length=hop,
        units="frames",
        backtrack=False,
        delta=params.delta,
        wait=_frames(params.wait, sr, hop),
        pre_max=_frames(params.pre_max, sr, hop),
        post_max=_frames(params.post_max, sr, hop) + 1,
        pre_avg=_frames(params.pre_avg, sr, hop),
        post_avg=_frames(params.post_avg, sr, hop) + 1,
    )
    if peaks.size == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    # backtrack: the last frame, within _BACKTRACK_SEC before each envelope peak, whose
    # energy is within 1 dB of the minimum there or below the floor (the quiet just before
    # the attack)
    energy = S.sum(axis=0)
    silent = float(energy.max()) * 10 ** (_FLOOR_DB / 10)
    reach = max(1, _frames(_BACKTRACK_SEC, sr, hop))
    lows = np.empty_like(peaks)
    for j, p in enumerate(peaks):
        window = energy[max(0, p - reach) : p + 1]
        near_min = np.flatnonzero(window <= max(window.min() * 10**0.1, silent))
        lows[j] = p - (window.size - 1 - near_min[-1])

    # band levels in dB relative to the loudest band-frame, floored
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    edges = [e for e in _BAND_EDGES_HZ if e < sr / 2] + [sr / 2 + 1]
    bands = np.stack(
        [
            S[(freqs >= lo) & (freqs < hi)].sum(axis=0)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    level = 10 * np.log10(np.maximum(bands, 1e-20) / max(float(bands.max()), 1e-20))
    level = np.maximum(level, _FLOOR_DB)

    after = _frames(_AFTER_SEC, sr, hop)
    win = -(-n_fft // hop)  # frames until a window no longer reaches back past the onset
    hold = max(1, _frames(_HOLD_SEC, sr, hop))
    n_frames = level.shape[1]
    starts = np.empty(peaks.size, np.int64)
    rise = np.empty(peaks.size)
    for j, (p, b) in enumerate(zip(peaks, lows, strict=True)):
        e = int(min(p, b))  # first frame that may hold the new sound
        before = (
            level[:, max(0, e - hold) : e].max(axis=1)
            if e >= 1
            else np.full(level.shape[0], _FLOOR_DB)
        )
        after_lv = level[:, e : min(n_frames, p + after + 1)].max(axis=1)
        # only bands that carry the new sound count (not noise in an empty band)
        relevant = after_lv >= after_lv.max() - _BAND_RANGE_DB
        rise[j] = float(np.max((after_lv - before)[relevant]))
        # a sound cut off (an edit, a gate) splatters a click, then silence: not an onset
        if e >= 1 and e + win < n_frames:
            gone = energy[e + win : e + win + 2].max() < energy[e - 1] * 10 ** (-_CUT_DB / 10)
            if gone:
                rise[j] = -np.inf
        if params.backtrack:
            starts[j] = _refine_start(yp, int(b) * hop, int(p) * hop, n_fft, sr)
        else:  # the envelope peak, aligned like librosa's centred envelope (window's end)
            starts[j] = int(p) * hop + n_fft // 2
    starts = np.clip(starts - pad, 0, y.size - 1)
    rise = np.where(rise >= params.min_rise_db, rise, -np.inf)
    # in time order (two envelope peaks of one attack can share a start: the gap gate
    # keeps one)
    order = np.argsort(starts, kind="stable")
    starts, rise = starts[order], rise[order]
    return starts, rise


def _refine_start(y: np.ndarray, low: int, peak: int, n_fft: int, sr: int) -> int:
    """Sample where the new sound starts: the first point after the energy minimum at frame
    centre ``low`` where the short-time RMS rises 6 dB above its maximum in the half-window
    before ``low``, minus a short pre-roll; ``low`` itself if there is none."""
    half = n_fft // 2
    w = max(1, int(round(_RMS_SEC * sr)))
    lo, hi = max(0, low - half), min(y.size, peak + half)
    if hi - lo <= w:
        return low
    power = np.convolve(y[lo:hi].astype(np.float64) ** 2, np.ones(w) / w, mode="same")
    rms = np.sqrt(power)
    ref = float(rms[: max(1, low - lo)].max())
    above = np.flatnonzero(rms[low - lo :] > max(2.0 * ref, SILENCE_PEAK))
    if above.size == 0:
        return low
    first = low + int(above[0]) + w // 2  # a centred RMS window sees the sound w/2 early
    return max(0, first - int(round(_PREROLL_SEC * sr)))


def _gate(
    y: np.ndarray, sr: int, starts: np.ndarray, rise: np.ndarray, peak: float, params: SegmentParams
) -> np.ndarray:
    """Indices of the candidates kept by the rise, level and gap gates (in that order)."""
    cand = np.flatnonzero(np.isfinite(rise))
    if cand.size == 0:
        return cand
    # level: peak of each candidate's stretch (to the next candidate) against the file's peak
    floor = peak * 10 ** (params.min_level_db / 20)
    bounds = np.append(starts[cand], y.size)
    loud = np.array(
        [
            np.max(np.abs(y[a : max(b, a + 1)])) >= floor
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ],
        dtype=bool,
    )
    # gap: greedy from the left (two peaks of one attack give the same start: one is kept)
    min_gap = max(1, int(round(params.min_gap * sr)))
    kept: list[int] = []
    for j in cand[loud]:
        if not kept or starts[j] - starts[kept[-1]] >= min_gap:
            kept.append(int(j))
    return np.array(kept, dtype=np.int64)
