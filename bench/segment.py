"""Benchmark: onset segmentation on synthetic drum takes with known hits — segments found
by ``samplevae.segment`` against the original's method (``librosa.onset.onset_detect`` with
backtracking and default settings), and the speed in seconds of audio per second.

The takes are the ones of ``tests/test_segment.py``: a 10.5 s mixed take (13 hits, levels
0 to -20 dB), single long decays (crash cymbals with 1.5 s decay, open hi-hats, a snare
through a 1.2 s reverb; one hit each) and hits on the tail of another; then random
sequences of the project's synthetic drum kit with overlapping tails; and, when
``bench/out/realkits`` exists (``bench/realkits.py``: real drum one-shots rendered from
General MIDI sound fonts), random sequences of those real hits at known times, whole hits
so their tails overlap, at levels 0 to -12 dB, alone or over a crash cymbal's 1.5 s tail
(the benchmark has no cymbal class: the crash is the synthetic one of the tests, struck
with the first hit). Each table gives hits found (a segment starting within 50 ms) and extra
segments (matching no hit), and precision / recall / F1 from them.

Run::

    .venv/bin/python bench/segment.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from scipy import signal  # noqa: E402
from test_segment import (  # noqa: E402
    SR,
    cymbal,
    hihat_closed,
    hihat_open,
    kick,
    make_drum_take,
    snare,
    take,
)

from samplevae.segment import SegmentParams, segment_onsets  # noqa: E402


def original(y: np.ndarray, sr: int) -> np.ndarray:
    """The original tool's segmentation: librosa defaults, backtracked, first < 0.5 s -> 0."""
    import librosa

    onsets = librosa.onset.onset_detect(y=y, sr=sr, backtrack=True, units="time")
    if onsets.size and onsets[0] < 0.5:
        onsets[0] = 0.0
    return onsets


def matches(found: np.ndarray, truth: list[float], tol: float = 0.05) -> tuple[int, int]:
    """(hits with a segment starting within ``tol`` seconds, segments that match no hit)."""
    hit = sum(bool(np.any(np.abs(found - t) < tol)) for t in truth)
    return hit, int(found.size - hit)


def prf(n_hits: int, found: int, extra: int) -> str:
    """``P / R / F``: precision (segments that match a hit), recall (hits found), F1."""
    p = found / max(1, found + extra)
    r = found / max(1, n_hits)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"{p:.3f} / {r:.3f} / {f:.3f}"


def cases() -> list[tuple[str, np.ndarray, list[float]]]:
    out = []
    audio, truth = make_drum_take()
    out.append(("mixed take, 13 hits", audio, list(truth)))
    for seed in range(5):
        r = np.random.default_rng(seed)
        out.append((f"crash 1.5 s, seed {seed}", take(3.0, [(0.8, cymbal(r), 0)], r, -60), [0.8]))
        out.append(
            (
                f"crash + swell, seed {seed}",
                take(3.0, [(0.8, cymbal(r, swell=0.5), 0)], r, -60),
                [0.8],
            )
        )
        out.append(
            (
                f"open hi-hat 1.2 s, seed {seed}",
                take(3.0, [(0.8, hihat_open(r, t60=1.2), 0)], r, -60),
                [0.8],
            )
        )
        t = np.arange(int(1.5 * SR)) / SR
        ir = r.standard_normal(t.size) * np.exp(-6.9 * t / 1.2)
        ir[0] = 3.0
        wet = signal.fftconvolve(snare(r), ir)
        out.append(
            (f"snare + 1.2 s reverb, seed {seed}", take(3.0, [(0.8, wet, 0)], r, -60), [0.8])
        )
        out.append(
            (
                f"hat on kick tail, seed {seed}",
                take(2.0, [(0.6, kick(r), 0), (0.75, hihat_closed(r), -12)], r),
                [0.6, 0.75],
            )
        )
    return out


def kit_sequences(
    n_files: int, min_gap: float, max_gap: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random 8-hit sequences of the synthetic kit (``samplevae.synth``, all 9 classes,
    whole hits so tails overlap), written at 44.1 kHz and read back at 16 kHz like a file."""
    import librosa

    from samplevae.synth import DRUM_CLASSES, synth_hit

    sr = 44100
    out = []
    for seed in range(n_files):
        rng = np.random.default_rng(seed)
        onsets = 0.1 + np.cumsum(rng.uniform(min_gap, max_gap, 8))
        track = np.zeros(int((onsets[-1] + 1.5) * sr), np.float32)
        for i, o in enumerate(onsets):
            hit = synth_hit(DRUM_CLASSES[rng.integers(len(DRUM_CLASSES))], seed=(seed, i))
            s = int(o * sr)
            n = min(hit.size, track.size - s)
            track[s : s + n] += hit[:n]
        y = librosa.resample(track, orig_sr=sr, target_sr=SR)
        truth = onsets.copy()
        if truth[0] < 0.5:
            truth[0] = 0.0
        out.append((y, truth))
    return out


REALKITS = ROOT / "bench" / "out" / "realkits"


def real_sequences(
    n_files: int, min_gap: float, max_gap: float, crash: bool = False, hits_per_file: int = 8
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random sequences of real one-shots of ``bench/out/realkits`` (any class, any kit),
    each placed whole at a known time; the truth is where each hit's sound starts (its first
    sample within 50 dB of its peak)."""
    from samplevae.audio import read_audio

    files = sorted(REALKITS.glob("*/*/*.wav"))
    by_class: dict[str, list] = {}
    for f in files:
        by_class.setdefault(f.parent.name, []).append(f)
    classes = sorted(by_class)
    cache: dict = {}
    out = []
    for seed in range(n_files):
        rng = np.random.default_rng(1000 + seed)
        onsets = 0.1 + np.cumsum(rng.uniform(min_gap, max_gap, hits_per_file))
        track = np.zeros(int((onsets[-1] + 2.0) * SR))
        truth = []
        for o in onsets:
            group = by_class[classes[rng.integers(len(classes))]]
            f = group[rng.integers(len(group))]
            if f not in cache:
                cache[f] = read_audio(f, sample_rate=SR)[0].astype(np.float64)
            hit = cache[f] / max(1e-9, float(np.max(np.abs(cache[f]))))
            hit = hit * 10 ** (rng.uniform(-12, 0) / 20)
            lead = int(np.argmax(np.abs(hit) > np.max(np.abs(hit)) * 10 ** (-50 / 20)))
            start = int(round(o * SR))
            n = min(hit.size, track.size - start)
            track[start : start + n] += hit[:n]
            truth.append((start + lead) / SR)
        if crash:
            c = cymbal(rng)
            c = 0.8 * c / np.max(np.abs(c))
            s0 = int(round(onsets[0] * SR))
            n = min(c.size, track.size - s0)
            track[s0 : s0 + n] += c[:n]
        track += 10 ** (-70 / 20) * rng.standard_normal(track.size)
        track = (0.9 * track / np.max(np.abs(track))).astype(np.float32)
        truth = np.array(truth)
        if truth[0] < 0.5:
            truth[0] = 0.0
        out.append((track, truth))
    return out


def main() -> None:
    warm = cases()[1][1]
    t = time.perf_counter()
    segment_onsets(warm, SR)  # librosa's peak picking is JIT-compiled by numba on first use
    original(warm, SR)
    jit_s = time.perf_counter() - t
    rows = []
    audio_s = 0.0
    t_ours = t_orig = 0.0
    for name, y, truth in cases():
        audio_s += y.size / SR
        t = time.perf_counter()
        ours = segment_onsets(y, SR, SegmentParams())
        t_ours += time.perf_counter() - t
        t = time.perf_counter()
        orig = original(y, SR)
        t_orig += time.perf_counter() - t
        rows.append((name, len(truth), matches(ours, truth), matches(orig, truth)))
    groups: dict[str, np.ndarray] = {}
    for name, n, ours_m, orig_m in rows:  # the seeds of one kind of take together
        kind = name.split(", seed")[0]
        groups.setdefault(kind, np.zeros(6, int))
        groups[kind] += [1, n, *ours_m, *orig_m]
    print("| take | hits | ours: found / extra | original: found / extra |")
    print("|---|---|---|---|")
    for kind, (files, n, oh, oe, rh, re_) in groups.items():
        label = kind if files == 1 else f"{kind} ({files} seeds)"
        print(f"| {label} | {n} | {oh} / {oe} | {rh} / {re_} |")
    tot = sum(groups.values())
    print(f"| **all takes** | {tot[1]} | {tot[2]} / {tot[3]} | {tot[4]} / {tot[5]} |")
    print(
        f"all takes, P / R / F: ours {prf(tot[1], tot[2], tot[3])}, "
        f"original {prf(tot[1], tot[4], tot[5])}"
    )
    print("\nfound: hits with a segment starting within 50 ms; extra: segments matching no hit")
    print("P / R / F: precision (found / segments), recall (found / hits), F1")
    print(
        f"speed: ours {audio_s / t_ours:.0f} s of audio per second, original "
        f"{audio_s / t_orig:.0f} ({audio_s:.0f} s of 16 kHz audio; after a one-time "
        f"{jit_s:.1f} s numba warm-up per process)"
    )
    print("\nrandom 8-hit sequences of the synthetic kit (60 files each):")
    print(
        "| hits apart | hits | ours: found / extra | original: found / extra "
        "| ours: P / R / F | original: P / R / F |"
    )
    print("|---|---|---|---|---|---|")
    for lo, hi in ((0.15, 0.6), (0.1, 0.3)):
        counts = np.zeros(5, int)
        for y, truth in kit_sequences(60, lo, hi):
            counts += [
                truth.size,
                *matches(segment_onsets(y, SR), list(truth)),
                *matches(original(y, SR), list(truth)),
            ]
        print(
            f"| {lo * 1000:.0f}-{hi * 1000:.0f} ms | {counts[0]} | {counts[1]} / {counts[2]} | "
            f"{counts[3]} / {counts[4]} | {prf(counts[0], counts[1], counts[2])} | "
            f"{prf(counts[0], counts[3], counts[4])} |"
        )
    if not REALKITS.is_dir():
        print("\n(bench/out/realkits not found: run bench/realkits.py for the real-hit sequences)")
        return
    n_real = len(list(REALKITS.glob("*/*/*.wav")))
    print(
        f"\nrandom 8-hit sequences of real drum one-shots (bench/out/realkits, {n_real} hits; "
        "40 files each):"
    )
    print(
        "| hits apart | under a crash tail | hits | ours: found / extra | original: found / extra "
        "| ours: P / R / F | original: P / R / F |"
    )
    print("|---|---|---|---|---|---|---|")
    for lo, hi in ((0.15, 0.6), (0.1, 0.3)):
        for crash in (False, True):
            counts = np.zeros(5, int)
            for y, truth in real_sequences(40, lo, hi, crash=crash):
                counts += [
                    truth.size,
                    *matches(segment_onsets(y, SR), list(truth)),
                    *matches(original(y, SR), list(truth)),
                ]
            print(
                f"| {lo * 1000:.0f}-{hi * 1000:.0f} ms | {'yes' if crash else 'no'} | "
                f"{counts[0]} | {counts[1]} / {counts[2]} | {counts[3]} / {counts[4]} | "
                f"{prf(counts[0], counts[1], counts[2])} | {prf(counts[0], counts[3], counts[4])} |"
            )


if __name__ == "__main__":
    main()
