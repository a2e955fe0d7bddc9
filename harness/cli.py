"""The ``harness`` command: a thin layer that parses, calls the engine, and renders.

Each subcommand lives in ``harness/commands/<name>.py`` with a ``register(subparsers)``
function that adds its parser and sets ``func(args) -> int`` (the exit code). Engine errors
derived from :class:`harness.errors.InputError` become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness.errors import HarnessError, InputError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules under harness.commands, each registering one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "run",
    "agent",
    "compat",
    "toxiproxy",
    "contracts",
    "chaos",
    "fuzz",
    "new",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Contract-testing and chaos harness for agent pipelines.",
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"harness.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code = int(args.func(args) or 0)
    except InputError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        code = 130
    if __name__ == "__main__":
        sys.exit(code)
    return code


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
