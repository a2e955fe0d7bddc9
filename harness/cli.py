"""The ``harness`` command: a thin layer that parses, calls the engine, and renders.

Each subcommand lives in ``harness/commands/<name>.py`` with a ``register(subparsers)``
function that adds its parser and sets ``func(args) -> int`` (the exit code). Engine errors
derived from :class:`harness.errors.InputError` become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from harness.errors import HarnessError
from harness.redact import redact_text

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
    "incident",
    "fuzz",
    "schema",
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
    parser.add_argument("--sqs-endpoint", metavar="URL",
                        help="SQS endpoint for sqs:// brokers (default: $AWS_ENDPOINT_URL_SQS; "
                             "e.g. moto's server, see docs/transports.md)")
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
    if getattr(args, "sqs_endpoint", None):
        os.environ["AWS_ENDPOINT_URL_SQS"] = args.sqs_endpoint
    try:
        code = int(args.func(args) or 0)
    except HarnessError as exc:  # InputError included: one line naming the place
        print(f"harness {args.command}: error: {redact_text(str(exc))}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness {args.command}: error: {_unexpected(args, exc)}", file=sys.stderr)
        code = 2
    if __name__ == "__main__":
        sys.exit(code)
    return code


def _unexpected(args: argparse.Namespace, exc: BaseException) -> str:
    """One line for an error no engine check caught, naming the input files given."""
    files = [v for v in vars(args).values()
             if isinstance(v, str) and v and len(v) < 4096 and os.path.exists(v)]
    place = ", ".join(files) or "input"
    if isinstance(exc, RecursionError):
        what = "nested too deeply to read"
    elif isinstance(exc, MemoryError):
        what = "too large to hold in memory"
    else:
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return f"{place}: {what} (HARNESS_DEBUG=1 shows where)"


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
