"""Feature-extraction throughput: single process vs all cores, cold vs cached.

Generates the synthetic drum kit (9 classes x ``--per-class`` files, 2,007 by default) in a
temporary folder, then times :func:`samplevae.features.extract_features` four ways:

* 1 process / all cores (``workers=1`` / ``workers=None``),
* cold (empty feature cache) / cached (the same call again: nothing is computed).

Run::

    .venv/bin/python bench/features.py            # 2,007 files, default audio parameters
    .venv/bin/python bench/features.py --per-class 50 --keep bench/out/kit

Prints files/s as a Markdown table. "Cold" means an empty *feature* cache; the audio files
are in the OS page cache either way (they were just written).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from samplevae.features import extract_features
from samplevae.params import AudioParams
from samplevae.synth import make_kit


def _timed(paths, params, cache_dir, workers):
    t0 = time.perf_counter()
    res = extract_features(paths, params, cache_dir=cache_dir, workers=workers, progress=False)
    return time.perf_counter() - t0, res


def run(per_class: int, seed: int, keep: Path | None) -> int:
    params = AudioParams()
    work = Path(tempfile.mkdtemp(prefix="samplevae-bench-"))
    kit = keep if keep is not None else work / "kit"
    try:
        t0 = time.perf_counter()
        paths = [str(p) for p in make_kit(kit, per_class=per_class, seed=seed, progress=True)]
        t_synth = time.perf_counter() - t0
        n = len(paths)
        cores = os.cpu_count() or 1
        print(
            f"\n{n} files ({per_class} per class) written in {t_synth:.1f} s "
            f"({n / t_synth:.0f} files/s) to {kit}"
        )
        print(
            f"audio params: {params.sample_rate} Hz, {params.sample_sec} s, n_fft {params.n_fft},"
            f" hop {params.hop_length}, {params.n_mels} mels -> features {params.shape}"
        )
        print(
            f"machine: {cores} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}\n"
        )

        rows = []
        reference = None
        for label, workers in (("1 process", 1), (f"all cores ({cores})", None)):
            cache = work / f"cache-{workers or 'all'}"
            t_cold, cold = _timed(paths, params, cache, workers)
            t_hot, hot = _timed(paths, params, cache, workers)
            if cold.failed or hot.failed:
                print(f"error: {len(cold.failed)} files failed", file=sys.stderr)
                return 1
            if cold.n_cached != 0 or hot.n_cached != n:
                print(f"error: cache counts {cold.n_cached} / {hot.n_cached}", file=sys.stderr)
                return 1
            stack = cold.stack()
            if reference is None:
                reference = stack
            elif not np.array_equal(reference, stack):
                print("error: multi-process features differ from single-process", file=sys.stderr)
                return 1
            rows.append((label, t_cold, t_hot))

        print("| extraction | cold: files/s | cold: total | cached: files/s | cached: total |")
        print("|---|---:|---:|---:|---:|")
        for label, t_cold, t_hot in rows:
            print(
                f"| {label} | {n / t_cold:,.0f} | {t_cold:.1f} s | {n / t_hot:,.0f} | "
                f"{t_hot:.2f} s |"
            )
        speedup = rows[0][1] / rows[1][1]
        print(
            f"\nall cores vs 1 process (cold): x{speedup:.2f}; "
            f"cached vs cold (1 process): x{rows[0][1] / rows[0][2]:.0f}"
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--per-class", type=int, default=223, help="files per drum class (default 223: 2,007 files)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="write the kit here and keep it (default: a temp folder, removed)",
    )
    args = parser.parse_args(argv)
    return run(args.per_class, args.seed, args.keep)


if __name__ == "__main__":
    sys.exit(main())
