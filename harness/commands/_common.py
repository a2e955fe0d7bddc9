"""Helpers shared by the CLI subcommands: ``--json`` output and consoles."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

__all__ = ["add_json_flag", "err_console", "out_console", "print_json"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: stdout carries only one JSON document; logs go to stderr."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def out_console() -> Console:
    """Console on stdout (honours NO_COLOR)."""
    return Console(highlight=False)


def err_console() -> Console:
    """Console on stderr, for progress and logs (so ``--json`` stdout stays clean)."""
    return Console(stderr=True, highlight=False)
