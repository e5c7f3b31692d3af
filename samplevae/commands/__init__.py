"""Subcommands of the ``samplevae`` console script (see :mod:`samplevae.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        default=None,
        help="workspace folder holding datasets and the feature cache "
        "(default: $SAMPLEVAE_WORKSPACE or ./samplevae_workspace)",
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
