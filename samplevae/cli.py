"""The ``samplevae`` console script: one subcommand per job.

Each command module in :data:`COMMAND_MODULES` adds its subcommands with
``register(subparsers)``; handlers import TensorFlow only when they run, so
``samplevae --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from samplevae.errors import SampleVAEError

COMMAND_MODULES = (
    "samplevae.commands.data",
    "samplevae.commands.train",
    "samplevae.commands.tool",
    "samplevae.commands.demo",
    "samplevae.commands.map",
    "samplevae.commands.library_tools",
    "samplevae.commands.models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samplevae",
        description="SampleVAE Workbench: datasets, training, generation, similarity search "
        "and classification of sound samples with an IAF-VAE.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a command module not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the exit code (0 success, 1 error, 130 interrupted)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # which CPU build faiss picked is no news to the user
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except SampleVAEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
