"""Benchmark: near-duplicate detection (``samplevae.duplicates.find_duplicates``).

1. **Planted duplicates.** A library of real drum one-shots (``bench/out/realkits``, written
   by ``bench/realkits.py``, one velocity per kit note; the synthetic kit if it is absent)
   gets planted variants of
   some of its files: byte-identical copies, 24-bit re-encodes, re-encodes resampled to
   another rate, gain changes (-6 dB) and one-sample shifts. The library is embedded by a
   model (``--logdir``; default: the newest trained run in ``bench/out/quality/runs``, else
   an untrained model of the default architecture) and searched with the default
   threshold. Reported: recall (planted pairs grouped together, per kind of variant) and
   precision (of the reported pairs involving a planted file, those that are its original),
   plus the pairs reported among the original files (there are genuine duplicates among
   them: General MIDI sound fonts reuse one sample in several kits). A planted file paired
   with such a twin of its original counts against precision here.
2. **Scale.** ``find_duplicates`` on ``--n`` (100 000) synthetic clustered embeddings of the
   default latent size (64) with 1 % planted near-copies: seconds (index build included),
   recall and precision.

Run::

    .venv/bin/python bench/duplicates.py [--logdir MODEL] [--per-kind 20] [--n 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import default_model_dir  # noqa: E402

from samplevae.duplicates import find_duplicates  # noqa: E402
from samplevae.library import Library  # noqa: E402

REALKITS = ROOT / "bench" / "out" / "realkits"
KINDS = ("copy", "24-bit", "resampled", "gain -6 dB", "1-sample shift")


def newest_trained_model() -> Path | None:
    runs = sorted((ROOT / "bench" / "out" / "quality" / "runs").glob("*/checkpoints"))
    for ck in reversed(runs):
        if any(ck.iterdir()):
            return ck.parent
    return None


def plant(src: Path, dest: Path, kind: str) -> None:
    import librosa
    import soundfile as sf

    if kind == "copy":
        shutil.copyfile(src, dest)
        return
    y, sr = sf.read(src, dtype="float32")
    subtype = "PCM_16"
    if kind == "24-bit":
        subtype = "PCM_24"
    elif kind == "resampled":
        new_sr = 48000 if sr != 48000 else 44100
        y = librosa.resample(y.T if y.ndim > 1 else y, orig_sr=sr, target_sr=new_sr).T
        sr = new_sr
    elif kind == "gain -6 dB":
        y = 0.5 * y
    elif kind == "1-sample shift":
        y = np.concatenate([np.zeros_like(y[:1]), y[:-1]])
    sf.write(dest, y, sr, subtype=subtype)


def planted_library(source: Path, dest: Path, per_kind: int, seed: int = 0) -> dict[str, tuple]:
    """Copy ``source`` (class folders) to ``dest`` and plant variants; returns
    ``{variant path: (original path, kind)}`` (real paths)."""
    from samplevae.audio import find_audio_files

    shutil.copytree(source, dest / "library")
    files, _ = find_audio_files(dest / "library")
    files = sorted(map(str, files))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(files), size=min(len(files), per_kind * len(KINDS)), replace=False)
    out = {}
    (dest / "library" / "planted").mkdir()
    for j, i in enumerate(picks):
        kind = KINDS[j % len(KINDS)]
        src = Path(files[i])
        target = dest / "library" / "planted" / f"{src.stem}__{kind.replace(' ', '_')}.wav"
        plant(src, target, kind)
        out[os.path.realpath(target)] = (os.path.realpath(src), kind)
    return out


def waveform_similarity(a: str, b: str) -> float:
    """Peak normalised cross-correlation of two files' mono waveforms (1: the same sound,
    up to gain and delay), at 16 kHz."""
    from scipy.signal import correlate

    from samplevae.audio import read_audio

    x, y = (read_audio(f, sample_rate=16000)[0].astype(np.float64) for f in (a, b))
    c = correlate(x, y, mode="full", method="fft")
    return float(np.max(np.abs(c)) / max(1e-12, np.sqrt((x @ x) * (y @ y))))


def pairs_of(report) -> set[tuple[str, str]]:
    out = set()
    for g in report.groups:
        ps = sorted({os.path.realpath(p) for p in g.paths})
        out |= {(a, b) for i, a in enumerate(ps) for b in ps[i + 1 :]}
    return out


def real_benchmark(logdir: Path | None, per_kind: int) -> None:
    from samplevae.modeldir import ModelDir
    from samplevae.synth import make_kit

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if REALKITS.is_dir():
            src, label = tmp / "src", "real drum one-shots (bench/out/realkits, velocity 100)"
            src.mkdir()
            # one velocity per kit note: sound fonts play the other velocities with the same
            # sample at another gain, which are duplicates by definition
            for f in sorted(REALKITS.glob("*/*/*_v100.wav")):
                dest = src / f.parent.parent.name / f.parent.name / f.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
        else:
            src, label = tmp / "src", "the synthetic kit (9 classes x 40)"
            make_kit(src, per_class=40, seed=0)
        planted = planted_library(src, tmp, per_kind)
        if logdir is None:
            logdir, model_label = default_model_dir(tmp / "model"), "untrained default model"
        else:
            model_label = f"trained model {logdir}"
        md = ModelDir(logdir)
        model = md.load_model()
        t0 = time.perf_counter()
        lib = Library.open(
            tmp / "library",
            embed=model.encode,
            audio=md.params.audio,
            weights_fingerprint=md.weights_fingerprint(),
            cache_dir=tmp / "cache",
            progress=False,
        )
        t_embed = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = find_duplicates(lib)
        t_find = time.perf_counter() - t0
        found = pairs_of(report)
        print(f"## planted duplicates in {label}\n")
        print(
            f"{len(lib)} files ({len(planted)} planted), {model_label}; embedded in "
            f"{t_embed:.0f} s, duplicates found in {t_find:.2f} s; threshold "
            f"{report.threshold:.4g} ({report.threshold_rule})\n"
        )
        print("| variant | planted | grouped with its original |")
        print("|---|---|---|")
        for kind in KINDS:
            mine = [(v, o) for v, (o, k) in planted.items() if k == kind]
            hit = sum(tuple(sorted(p)) in found for p in mine)
            print(f"| {kind} | {len(mine)} | {hit} ({hit / max(1, len(mine)):.0%}) |")
        want = {tuple(sorted((v, o))) for v, (o, _) in planted.items()}
        hit = len(found & want)
        involving = {p for p in found if p[0] in planted or p[1] in planted}
        print(f"| **all** | {len(want)} | {hit} ({hit / max(1, len(want)):.0%}) |\n")
        print(
            f"recall {hit / max(1, len(want)):.3f}; precision {len(involving & want)}"
            f" / {len(involving)} = {len(involving & want) / max(1, len(involving)):.3f} "
            "(reported pairs involving a planted file that pair it with its original)"
        )
        others = sorted(found - involving)

        def canon(f: str) -> str:
            return planted[f][0] if f in planted else f

        twin_ok = sum(
            canon(a) == canon(b) or tuple(sorted((canon(a), canon(b)))) in found
            for a, b in involving
        )
        print(
            f"precision counting a pairing with a file the search also pairs with the "
            f"original as correct: {twin_ok} / {len(involving)} = "
            f"{twin_ok / max(1, len(involving)):.3f}"
        )
        xc = [waveform_similarity(a, b) for a, b in others]
        print(
            f"pairs reported among the original files: {len(others)}; their waveforms' peak "
            f"normalised cross-correlation: {sum(c >= 0.99 for c in xc)} >= 0.99, "
            f"{sum(c >= 0.9 for c in xc)} >= 0.9, lowest {min(xc, default=float('nan')):.3f} "
            "(the same sound in several kits)"
        )
        for (a, b), c in list(zip(others, xc, strict=True))[:5]:
            print(f"  {Path(a).name}  ~  {Path(b).name}  (cross-correlation {c:.4f})")


def scale_benchmark(n: int, dim: int = 64, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centers = 2 * rng.standard_normal((300, dim)).astype(np.float32)
    x = (centers[rng.integers(300, size=n)] + rng.standard_normal((n, dim))).astype(np.float32)
    m = n // 100
    src = rng.choice(n - m, size=m, replace=False)
    x[n - m :] = x[src] + 0.01 * rng.standard_normal((m, dim)).astype(np.float32)
    lib = Library(
        ["/synthetic"], [f"/synthetic/s{i:06d}.wav" for i in range(n)], np.zeros(n), x, [], None
    )
    t0 = time.perf_counter()
    report = find_duplicates(lib, exact=False)
    sec = time.perf_counter() - t0
    want = {(int(s), int(d)) for s, d in zip(src, range(n - m, n), strict=True)}
    found = {(a, b) for g in report.groups for a in g.ids for b in g.ids if a < b}
    print(
        f"\n## scale: {n} synthetic embeddings (dim {dim}, 300 clusters, {m} planted near-copies)\n"
    )
    print(
        f"find_duplicates: {sec:.1f} s on {os.cpu_count()} cores (index "
        f"{'exact' if lib.index.exact else f'IVF{lib.index.nlist}, nprobe {lib.index.nprobe}'};"
        f" build + search {report.seconds.get('search', 0):.1f} s, grouping "
        f"{report.seconds.get('group', 0):.1f} s)"
    )
    print(
        f"recall {len(found & want) / len(want):.3f}, precision "
        f"{len(found & want) / max(1, len(found)):.3f}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logdir", type=Path, default=None, help="trained model directory")
    ap.add_argument("--untrained", action="store_true", help="use an untrained default model")
    ap.add_argument("--per-kind", type=int, default=20, help="planted files per variant kind")
    ap.add_argument("--n", type=int, default=100_000, help="entries of the scale benchmark")
    args = ap.parse_args(argv)
    logdir = None if args.untrained else (args.logdir or newest_trained_model())
    real_benchmark(logdir, args.per_kind)
    scale_benchmark(args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
