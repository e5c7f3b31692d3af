"""Command-line latency: wall time of ``samplevae similar`` / ``predict`` / ``generate`` as
fresh processes with a built library, at the default model size, against ``python -c pass``
and ``python -c "import tensorflow"``.

Each command runs with the default TensorFlow-free engine and with ``SAMPLEVAE_ENGINE=keras``
(the Keras model, as before), rounds interleaved, median of ``--repeats``; the load average
is printed before and after (the figures only mean something next to it).

    python bench/cli.py [--repeats 5] [--per-class 20] [--workdir bench/out/cli]

The work folder (kit, an untrained default model with the kit's 9 classes, its library) is
made once and reused; speed does not depend on training.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_model_dir  # noqa: E402

HERE = Path(__file__).resolve().parent


def samplevae_exe() -> list[str]:
    exe = Path(sys.executable).with_name("samplevae")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "samplevae.cli"]


def prepare(work: Path, per_class: int) -> dict:
    """Kit, model, a target outside the library, and the built library (reused if there)."""
    from samplevae.synth import DRUM_CLASSES, make_kit

    kit, model, outside = work / "kit", work / "model", work / "outside"
    if not (work / "ready").exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        make_kit(kit, per_class=per_class, seed=1)
        make_kit(outside, per_class=1, seed=2, classes=("snare",))
        default_model_dir(model, class_names=DRUM_CLASSES)
        t0 = time.perf_counter()
        run([*samplevae_exe(), "library", "build", "--logdir", str(model), "--library", str(kit)])
        print(f"library built (cold, CLI) in {time.perf_counter() - t0:.1f} s")
        (work / "ready").touch()
    return {
        "kit": kit,
        "model": model,
        "inside": next(iter(sorted((kit / "kick").glob("*.wav")))),
        "outside": next(iter(sorted(outside.rglob("*.wav")))),
        "out": work / "generated.wav",
    }


def run(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--per-class", type=int, default=20, help="kit files per class (9 classes)")
    ap.add_argument("--workdir", type=Path, default=HERE / "out" / "cli")
    ap.add_argument("--no-keras", action="store_true", help="skip the Keras-engine rows")
    args = ap.parse_args()

    w = prepare(args.workdir, args.per_class)
    sv = samplevae_exe()
    model, kit = str(w["model"]), str(w["kit"])
    common = ["--logdir", model, "--no-progress"]
    commands = {
        "similar (target in the library)": [
            *sv, "similar", *common, "--library", kit, str(w["inside"]), "-n", "10"
        ],
        "similar (target outside it)": [
            *sv, "similar", *common, "--library", kit, str(w["outside"]), "-n", "10"
        ],
        "predict": [*sv, "predict", *common, str(w["outside"])],
        "generate (N(0, I), 32 Griffin-Lim iterations)": [
            *sv, "generate", *common, "--out", str(w["out"]), "--force", "--prior", "normal",
            "--seed", "1",
        ],
        "generate (blend of 2 files)": [
            *sv, "generate", *common, "--out", str(w["out"]), "--force",
            "--files", str(w["inside"]), str(w["outside"]), "--seed", "1",
        ],
    }  # fmt: skip
    base = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "python -c 'import tensorflow'": [sys.executable, "-c", "import tensorflow"],
    }
    engines = {"numpy": None} if args.no_keras else {"numpy": None, "keras": "keras"}
    rows: list[tuple[str, list[float]]] = []
    times: dict[tuple[str, str], list[float]] = {}
    load0 = os.getloadavg()
    for _ in range(args.repeats):  # interleaved rounds: load changes hit every row alike
        for name, cmd in base.items():
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            times.setdefault((name, ""), []).append(run(cmd, env))
        for name, cmd in commands.items():
            for engine, value in engines.items():
                env = dict(os.environ)
                env.pop("SAMPLEVAE_ENGINE", None)
                if value:
                    env["SAMPLEVAE_ENGINE"] = value
                times.setdefault((name, engine), []).append(run(cmd, env))
    load1 = os.getloadavg()
    for key, ts in times.items():
        rows.append((f"{key[0]}" + (f" [{key[1]}]" if key[1] else ""), ts))

    print(
        f"{os.cpu_count()} cores; load average before {load0[0]:.2f}, after {load1[0]:.2f} "
        f"(1 min); library of {len(list(Path(kit).rglob('*.wav')))} files; "
        f"median of {args.repeats} runs"
    )
    print(f"{'command':<60}{'median s':>10}{'min s':>8}{'max s':>8}")
    for label, ts in rows:
        print(f"{label:<60}{statistics.median(ts):>10.2f}{min(ts):>8.2f}{max(ts):>8.2f}")
    if not args.no_keras:
        print("speed-up of the numpy engine over the Keras one (ratio of medians):")
        for name in commands:
            k, n = (statistics.median(times[(name, e)]) for e in ("keras", "numpy"))
            print(f"  {name}: x{k / n:.1f}")


if __name__ == "__main__":
    main()
