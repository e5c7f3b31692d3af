"""Library build speed: files/s from audio (decode + features + embed) at the default model
size, cold and cached, on every core.

    python bench/library.py [--files 2007]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_model_dir, peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-class", type=int, default=223, help="kit files per class (9 classes)")
    args = ap.parse_args()

    from samplevae.synth import make_kit
    from samplevae.tool import SoundSampleTool

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = make_kit(tmp / "kit", per_class=args.per_class, seed=1)
        logdir = default_model_dir(tmp / "model")
        print(f"library of {len(files)} files (44.1 kHz 16-bit wav), default model, "
              f"{os.cpu_count()} cores")
        rows = []
        for label in ("cold (decode + features + embed)", "cached (re-open)"):
            t0 = time.perf_counter()
            tool = SoundSampleTool(logdir, library_dir=tmp / "kit", progress=False)
            dt = time.perf_counter() - t0
            assert len(tool.library) == len(files), tool.library.skipped[:3]
            rows.append((label, dt, len(files) / dt))
        t0 = time.perf_counter()
        SoundSampleTool(logdir, progress=False)
        model_load = time.perf_counter() - t0
        print(f"{'run':<36}{'seconds':>10}{'files/s':>10}")
        for label, dt, rate in rows:
            print(f"{label:<36}{dt:>10.2f}{rate:>10.0f}")
        print(f"(of which loading the model: {model_load:.2f} s per open)")
        print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
