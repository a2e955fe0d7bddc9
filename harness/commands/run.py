"""``harness run``: a pipeline on its workload, in-process or with each agent as its own process."""

from __future__ import annotations

import argparse
import asyncio

from harness.commands._common import add_json_flag, err_console, print_json
from harness.redact import redact_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a pipeline on its workload and summarise it (optionally "
                       "with every agent in its own OS process)",
                       description="Run PIPELINE on N inputs from its workload (the pipeline's "
                       "`workload:` generator, else drawn from the ingress type's schema) and "
                       "summarise it. Exit 0 when nothing was lost or doubled and every input "
                       "ended as expected, else 1. With --processes every agent is its own "
                       "supervised OS process on the broker.")
    p.add_argument("pipeline", help="pipeline file")
    p.add_argument("--broker", default="memory", help="memory (default), amqp://, redis://, "
                   "nats:// or sqs:// (docs/transports.md)")
    p.add_argument("--processes", action="store_true",
                   help="run each agent as its own OS process (needs a real broker)")
    p.add_argument("--store", default=None,
                   help="memory, sqlite:///FILE or postgresql://... (default: the pipeline's)")
    p.add_argument("--transactions", type=int, default=300, help="how many inputs (default 300)")
    p.add_argument("--invalid", type=float, default=None,
                   help="share of invalid inputs, 0..1 (default: the workload's, 0.05)")
    p.add_argument("--seed", type=int, default=None, help="workload seed (default: random)")
    p.add_argument("--out", default=None, help="folder for history.jsonl and logs")
    p.add_argument("--rate", type=float, default=None, help="inputs per second (default: max)")
    p.add_argument("--window", type=int, default=None,
                   help="at most this many inputs in flight (sent, no fate yet): a soak's "
                        "memory stays flat (default: no limit)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait to settle")
    add_json_flag(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import random

    from harness.commands.demo import progress_bar, render_summary
    from harness.engine import run_pipeline
    from harness.errors import InputError
    from harness.workload import DEFAULT_MIX

    if args.transactions < 1:
        raise InputError("must be at least 1", where="--transactions")
    mix = None
    if args.invalid is not None:
        if not 0 <= args.invalid <= 1:
            raise InputError(f"must be between 0 and 1, got {args.invalid}", where="--invalid")
        high = DEFAULT_MIX["high_risk"] * (1 - args.invalid)
        mix = {"valid": 1 - args.invalid - high, "invalid": args.invalid, "high_risk": high}
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    mode = "processes" if args.processes else "in-process"
    err = err_console()
    err.print(f"harness run: {args.pipeline} seed={seed} broker={redact_url(args.broker)} "
              f"agents={mode} transactions={args.transactions}")
    with progress_bar(args.transactions, args.json) as progress:
        summary = asyncio.run(run_pipeline(
            args.pipeline, broker=args.broker, processes=args.processes,
            transactions=args.transactions, seed=seed, store=args.store, out=args.out,
            rate=args.rate, mix=mix, timeout=args.timeout, progress=progress,
            window=args.window))
    if args.json:
        print_json(summary.to_dict())
    else:
        render_summary(summary, rate=args.rate)
    return 0 if summary.ok else 1
