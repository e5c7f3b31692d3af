"""``samplevae demo``: the main job, from nothing to a trained model, sounds and a report."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthetic kit -> dataset -> training -> sounds, search, classes -> report",
        description="Run the whole workbench on the embedded synthetic drum kit. A second run "
        "re-uses what exists (features, trained model) and takes well under a minute.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--fresh", action="store_true", help="delete the output folder and start over")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="training time budget in seconds (default 150)",
    )
    p.add_argument("--per-class", type=int, default=None, help="kit samples per class")
    p.add_argument("--smoke", action="store_true", help="tiny configuration (seconds; for tests)")
    p.add_argument("--no-report", action="store_true", help="skip the notebook report")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samplevae.demo import run_demo

    run_demo(
        args.out,
        fresh=args.fresh,
        smoke=True if args.smoke else None,
        time_budget=args.time_budget,
        per_class=args.per_class,
        report=not args.no_report,
        progress=not args.no_progress,
    )
    return 0
