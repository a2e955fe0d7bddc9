"""``harness agent``: run one agent of a pipeline in this process until SIGTERM.

Started by ``harness run --processes`` (one process per agent); usable by hand too.
"""

from __future__ import annotations

import argparse
import asyncio
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="run one agent of a pipeline until SIGTERM (used by "
                       "`harness run --processes`)",
                       description="Run one agent's runtime(s) on a broker until SIGTERM.")
    p.add_argument("pipeline", help="pipeline file")
    p.add_argument("--name", required=True, help="the agent to run")
    p.add_argument("--broker", default=os.environ.get("HARNESS_BROKER"),
                   help="amqp://... (default: $HARNESS_BROKER)")
    p.add_argument("--store", default=os.environ.get("HARNESS_STORE"),
                   help="store URL shared with the other agents (default: $HARNESS_STORE)")
    p.add_argument("--history", default=os.environ.get("HARNESS_HISTORY"),
                   help="history file to append to (default: $HARNESS_HISTORY)")
    p.add_argument("--prefix", default=os.environ.get("HARNESS_PREFIX", ""),
                   help="queue-name prefix of the run")
    p.add_argument("--origin", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from harness.errors import InputError
    from harness.processes import run_agent

    if not args.broker:
        raise InputError("needs a broker URL (or $HARNESS_BROKER)", where="--broker")
    if not args.store:
        raise InputError("needs a store URL (or $HARNESS_STORE)", where="--store")
    return asyncio.run(run_agent(args.pipeline, args.name, broker=args.broker, store=args.store,
                                 history=args.history, prefix=args.prefix, origin=args.origin))
