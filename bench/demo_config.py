"""The demo's configuration at a fixed number of steps, with overrides: how far the demo's
model gets on the synthetic kit's validation, step by step, whatever the machine's load.

    .venv/bin/python bench/demo_config.py --steps 400
    .venv/bin/python bench/demo_config.py --steps 800 --set train.batch_size=32
    .venv/bin/python bench/demo_config.py --steps 400 --per-class 120

Prints the validation balanced accuracy every ``validate_every`` steps (25 in the demo) and
the last one; the demo itself stops at its time budget instead (``samplevae demo``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_reporting_errors  # noqa: E402
from quality import run_params  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    p.add_argument("--per-class", type=int, default=None, help="kit files per class (demo's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--work", type=Path, default=None, help="keep the kit and model here")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run_reporting_errors(run, args)


def run(args) -> int:
    from samplevae.dataset import Workspace, list_datasets, make_dataset
    from samplevae.demo import DEFAULT_PER_CLASS, demo_run_params
    from samplevae.synth import make_kit
    from samplevae.training import train

    per_class = args.per_class or DEFAULT_PER_CLASS
    params = run_params(demo_run_params(), args.set)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        kit = work / f"kit{per_class}"
        if not kit.is_dir():
            make_kit(kit, per_class=per_class, seed=0, progress=not args.no_progress)
        ws = Workspace(work / f"workspace{per_class}")
        if "kit" not in list_datasets(ws):
            make_dataset(
                "kit",
                kit,
                classes=True,
                workspace=ws,
                audio_params=params.audio,
                progress=not args.no_progress,
            )
        curve = []
        t0 = time.monotonic()
        train(
            work / f"model_{time.strftime('%Y%m%d-%H%M%S')}",
            "kit",
            workspace=ws.root,
            run_params=params,
            num_steps=args.steps,
            progress=not args.no_progress,
            callbacks=[
                lambda r: (
                    curve.append((r["step"], r["balanced_accuracy"]))
                    if r.get("kind") == "valid" and "balanced_accuracy" in r
                    else None
                )
            ],
        )
        seconds = time.monotonic() - t0
    print(f"demo configuration, {per_class} files per class, overrides {args.set or 'none'}")
    print("validation balanced accuracy: " + ", ".join(f"{s}: {a:.3f}" for s, a in curve))
    if curve:
        print(
            f"last (step {curve[-1][0]}): {curve[-1][1]:.3f}; best on the way: "
            f"{max(a for _, a in curve):.3f}; {seconds:.0f} s"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "per_class": per_class,
                    "set": args.set,
                    "steps": args.steps,
                    "seconds": round(seconds, 1),
                    "curve": curve,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
