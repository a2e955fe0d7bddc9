"""``harness run``: a pipeline on a broker, in-process or with each agent as its own process."""

from __future__ import annotations

import argparse
import asyncio

from harness.commands._common import add_json_flag, err_console, print_json
from harness.redact import redact_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a pipeline on the payments workload (optionally with "
                       "every agent in its own OS process)",
                       description="Run PIPELINE on N payment requests and summarise it. With "
                       "--processes every agent is its own supervised OS process on the broker.")
    p.add_argument("pipeline", help="pipeline file")
    p.add_argument("--broker", default="memory", help="memory (default), amqp://, redis://, "
                   "nats:// or sqs:// (docs/transports.md)")
    p.add_argument("--processes", action="store_true",
                   help="run each agent as its own OS process (needs a real broker)")
    p.add_argument("--store", default=None,
                   help="memory, sqlite:///FILE or postgresql://... (default: the pipeline's)")
    p.add_argument("--transactions", type=int, default=300, help="how many (default 300)")
    p.add_argument("--seed", type=int, default=None, help="workload seed (default: random)")
    p.add_argument("--out", default=None, help="folder for history.jsonl and logs")
    p.add_argument("--rate", type=float, default=None, help="inputs per second (default: max)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait to settle")
    add_json_flag(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import random

    from harness.commands.demo import render_summary
    from harness.errors import InputError

    if args.transactions < 1:
        raise InputError("must be at least 1", where="--transactions")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    mode = "processes" if args.processes else "in-process"
    err_console().print(f"harness run: seed={seed} broker={redact_url(args.broker)} agents={mode} "
                        f"transactions={args.transactions}")
    if args.processes:
        from harness.processes import run_processes

        summary = asyncio.run(run_processes(
            args.pipeline, broker=args.broker, transactions=args.transactions, seed=seed,
            store=args.store, out=args.out, rate=args.rate, timeout=args.timeout))
    else:
        from harness.demo import run_demo

        summary = asyncio.run(run_demo(
            broker=args.broker, transactions=args.transactions, seed=seed, store=args.store,
            pipeline=args.pipeline, out=args.out, rate=args.rate, timeout=args.timeout))
    if args.json:
        print_json(summary.to_dict())
    else:
        render_summary(summary)
    return 0 if summary.ok else 1
