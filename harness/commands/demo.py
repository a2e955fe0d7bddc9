"""``harness demo``: run the payments pipeline and print its summary."""

from __future__ import annotations

import argparse
import asyncio

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.demo import run_demo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the payments pipeline end to end and summarise it",
                       description="Run the payments pipeline (orchestrator -> fraud -> "
                       "authorization -> ledger -> notification) on N transactions.")
    p.add_argument("--broker", default="memory", help="memory (default), amqp://, redis://, "
                   "nats:// or sqs:// (docs/transports.md)")
    p.add_argument("--transactions", type=int, default=300, help="how many (default 300)")
    p.add_argument("--seed", type=int, default=None, help="workload seed (default: random)")
    p.add_argument("--store", default=None,
                   help="idempotency store: memory, sqlite:///FILE or postgresql://... "
                        "(default: SQLite in the run folder)")
    p.add_argument("--pipeline", default=None, help="pipeline file (default: the payments example)")
    p.add_argument("--out", default=None, help="folder for history.jsonl (default: a temp folder)")
    p.add_argument("--rate", type=float, default=None, help="inputs per second (default: max)")
    add_json_flag(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import random

    from harness.redact import redact_url

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    err = err_console()
    err.print(f"harness demo: seed={seed} broker={redact_url(args.broker)} "
              f"transactions={args.transactions}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("settled", total=args.transactions)

        def progress(sent: int, settled: int, total: int) -> None:
            bar.update(task, completed=settled, description=f"sent {sent}/{total}, settled")

        summary = asyncio.run(run_demo(broker=args.broker, transactions=args.transactions,
                                       seed=seed, store=args.store, pipeline=args.pipeline,
                                       out=args.out, rate=args.rate, progress=progress))
    if args.json:
        print_json(summary.to_dict())
    else:
        render_summary(summary)
    return 0 if summary.ok else 1


def render_summary(summary) -> None:
    table = Table(title=f"payments demo (seed {summary.seed}, broker {summary.broker})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    reasons = ", ".join(f"{k}: {v}" for k, v in summary.dead_letter_reasons.items()) or "-"
    rows = [
        ("transactions sent", summary.transactions),
        ("completed", summary.completed),
        ("declined", summary.declined),
        ("dead-lettered", f"{summary.dead_lettered} ({reasons})"),
        ("lost", summary.lost),
        ("duplicate effects", summary.duplicate_effects),
        ("ledger balanced", "yes" if summary.ledger_balanced else "NO"),
        ("fallbacks used", summary.fallbacks),
        ("p50 end-to-end", f"{summary.p50_ms} ms"),
        ("p99 end-to-end", f"{summary.p99_ms} ms"),
        ("elapsed", f"{summary.elapsed_s} s"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console = out_console()
    console.print(table)
    verdict = "OK" if summary.ok else "FAILED"
    console.print(f"{verdict}: completed + declined + dead-lettered = "
                  f"{summary.completed + summary.declined + summary.dead_lettered} of "
                  f"{summary.transactions}")
