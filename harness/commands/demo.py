"""``harness demo``: run the payments pipeline and print its summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from rich.table import Table

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.redact import redact_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the payments pipeline end to end and summarise it",
                       description="Run the payments pipeline (orchestrator -> fraud -> "
                       "authorization -> ledger -> notification) on N transactions "
                       "(`harness run` on the bundled example).")
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

    from harness.demo import run_demo

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    err = err_console()
    err.print(f"harness demo: seed={seed} broker={redact_url(args.broker)} "
              f"transactions={args.transactions}")
    with progress_bar(args.transactions, args.json) as progress:
        summary = asyncio.run(run_demo(broker=args.broker, transactions=args.transactions,
                                       seed=seed, store=args.store, pipeline=args.pipeline,
                                       out=args.out, rate=args.rate, progress=progress))
    if args.json:
        print_json(summary.to_dict())
    else:
        render_summary(summary, rate=args.rate)
    return 0 if summary.ok else 1


@contextlib.contextmanager
def progress_bar(total: int, json_out: bool) -> Iterator[Any]:
    """A progress callback (phase, sent, settled, total) drawing the shared bar on a terminal
    (silent with --json or without one)."""
    from harness.report.progress import progress_bar as bar_of
    from harness.report.progress import wanted

    with bar_of("settled", total=total, enabled=wanted(json_out)) as bar:

        def progress(phase: str, sent: int, settled: int, n: int) -> None:
            bar.update(settled, total=n, note=f"({phase}, sent {sent})")

        yield progress


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value} ms"


def render_summary(summary: Any, *, rate: float | None = None) -> None:
    """The summary as a table, then one verdict line (``rate``: the inputs' send rate, which
    says what the end-to-end latency measures)."""
    table = Table(title=f"{summary.pipeline or 'pipeline'} (seed {summary.seed}, "
                        f"broker {summary.broker})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    reasons = ", ".join(f"{k}: {v}" for k, v in summary.dead_letter_reasons.items()) or "-"
    table.caption = (f"end-to-end latency with inputs sent at {rate:g}/s" if rate else
                     "end-to-end latency: every input sent at once, so it is mostly queueing "
                     "time (--rate N sends at a steady pace)")
    rows = [
        ("inputs sent", summary.transactions),
        ("completed", summary.completed),
        ("declined", summary.declined),
        ("dead-lettered", f"{summary.dead_lettered} ({reasons})"),
        ("lost", summary.lost),
        ("not as expected", summary.unexpected_outcomes),
        ("duplicate effects", summary.duplicate_effects),
        ("ledger balanced", "yes" if summary.ledger_balanced else "NO"),
        ("fallbacks used", summary.fallbacks),
        ("p50 end-to-end", _ms(summary.p50_ms)),
        ("p99 end-to-end", _ms(summary.p99_ms)),
        ("elapsed", f"{summary.elapsed_s} s"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console = out_console()
    console.print(table)
    verdict = "OK" if summary.ok else "FAILED"
    console.print(f"{verdict}: completed + declined + dead-lettered = "
                  f"{summary.completed + summary.declined + summary.dead_lettered} of "
                  f"{summary.transactions}; lost {summary.lost}, not as expected "
                  f"{summary.unexpected_outcomes}, duplicate effects {summary.duplicate_effects}")
    if summary.lost_ids:
        console.print(f"lost: {', '.join(summary.lost_ids[:5])}")
    if summary.unexpected_ids:
        console.print(f"not as expected: {', '.join(summary.unexpected_ids[:5])}")
