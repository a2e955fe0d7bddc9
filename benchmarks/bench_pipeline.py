"""Throughput of the payments pipeline through the harness vs each broker's raw client, measured
on the same server in the same run.

For each broker of ``--transports`` (default ``amqp``; any of amqp,redis,nats,sqs), rows are
interleaved in every repetition and the table shows medians over ``--reps`` (default 5):

- ``raw <t>`` (``raw aio-pika`` on RabbitMQ): the same envelope bytes through a chain of 6
  queues written against the broker's client (benchmarks/raw_clients.py): at every hop a
  consumer with the same prefetch (8) publishes the bytes to the next queue (confirmed the
  broker's way) and then acks. Same durability as the harness, none of its work. The baseline.
- ``transport <t>``: the same chain through the harness's transport adapter alone (no runtime,
  store or recording): what the adapter costs.
- ``harness <t>``: PipelineRun on that broker with the full runtime (envelope parsing, ingress
  and egress validation, SQLite idempotency store, history recorded to a JSON-lines file and
  not kept in memory, as ``harness run`` records).
- on RabbitMQ also ``harness amqp (no recording)`` (no history file: events only reach the
  run's own listener, which settling needs) and ``harness memory`` (the memory transport, for
  scale).

Every payment is 6 deliveries (requested -> orchestrator, accepted -> fraud, risk_assessed ->
authorization, authorized -> ledger, posted -> notification, sent -> orchestrator), so
messages/s = payments/s x 6. Every row feeds its inputs through the same feeder
(``FEED_WINDOW`` confirmed publishes in flight). ``x raw`` is the row's median throughput over
its broker's raw row; ``CPU ms/pay`` is this process's CPU time per payment (median), steadier
than wall time on a shared machine. Targets: harness amqp >= 0.7x raw, redis/nats/sqs >= 0.5x.
SQS runs on moto's server started on a free port unless ``--sqs`` names an endpoint URL, with
``--n-sqs`` payments (moto is slow).

Usage::

    PYTHONPATH=. python benchmarks/bench_pipeline.py [--n 500] [--reps 5] [--json]
    PYTHONPATH=. python benchmarks/bench_pipeline.py --transports amqp,redis,nats,sqs --n 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness.demo import default_pipeline_path
from harness.history import Recorder
from harness.pipeline import load_pipeline
from harness.processes import ProcessRun
from harness.run import PipelineRun
from harness.workload import payments_workload

HOPS = 6
#: publishes of workload inputs in flight at once (both the harness and the raw baseline)
FEED_WINDOW = 32


async def feed(items: list, send, window: int = FEED_WINDOW) -> None:  # type: ignore[type-arg]
    """Publish every input with at most ``window`` confirms outstanding (the same feeder for
    every row, so a single publisher's confirm round trip is not what gets measured)."""
    slots = asyncio.Semaphore(window)

    async def one(item) -> None:  # type: ignore[no-untyped-def]
        async with slots:
            await send(item)

    await asyncio.gather(*(one(item) for item in items))


async def bench_harness(broker: str, n: int, *, record: bool, seed: int,
                        processes: bool = False) -> float:
    """Seconds for ``n`` payments to complete through the pipeline (with ``processes``, every
    agent in its own OS process, as ``harness run --processes`` runs them)."""
    spec = load_pipeline(default_pipeline_path())
    items = payments_workload(n, seed, invalid_rate=0, high_risk_rate=0,
                              run_tag=f"b{uuid.uuid4().hex[:6]}-")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        run: PipelineRun
        if processes:  # the agents record to tmp/history.jsonl, as the parent does
            run = ProcessRun(spec, broker=broker, run_dir=tmp)
        else:
            # on disk only and in batches, as `harness run` records (harness/engine.py): no
            # event kept in memory; without recording, no file either (events still reach the
            # run's listener: settling)
            run = PipelineRun(spec, broker=broker, run_dir=tmp, recorder=Recorder(
                Path(tmp) / "history.jsonl" if record else None, keep=False, batch=True))
        async with run:  # started: every agent consumes (processes: each one subscribed)
            t0 = time.perf_counter()
            await feed([i.envelope for i in items], lambda env: run.send(env, expect="completed"))
            ok = await run.settle(timeout=300)
            elapsed = time.perf_counter() - t0
            outcomes = list(run.terminal.values())
            summary = await run.summary() if record else None
        run.recorder.close()
    clean = ok and len(outcomes) == n and set(outcomes) == {"completed"}
    if summary is not None:
        clean = clean and summary.completed == n and not summary.lost \
            and not summary.duplicate_effects
    if not clean:
        raise SystemExit(f"benchmark run on {broker} did not complete cleanly: "
                         f"{summary or sorted(set(outcomes))}")
    return elapsed


async def _timed(run: Any) -> tuple[float, float]:
    """(wall seconds the run reports, this process's CPU seconds during it)."""
    cpu = time.process_time()
    wall = await run
    return wall, time.process_time() - cpu


def _url(t: str, args: argparse.Namespace, servers: list) -> str:  # type: ignore[type-arg]
    if t == "sqs" and not args.sqs:
        from harness.transport.moto_server import MotoServer

        servers.append(MotoServer.start())
        return f"sqs://us-east-1?endpoint={servers[-1].endpoint}"
    if t == "sqs":
        return f"sqs://us-east-1?endpoint={args.sqs}"
    return {"amqp": args.broker, "redis": args.redis, "nats": args.nats}[t]


async def bench_broker(t: str, args: argparse.Namespace, result: dict) -> None:  # type: ignore[type-arg]
    """``raw <t>``, ``transport <t>`` and ``harness <t>`` (on amqp also without recording, and the
    memory transport for scale) on the same server, interleaved per repetition, into
    ``result``."""
    from benchmarks.raw_clients import RAW, transport_chain

    servers: list = []  # type: ignore[type-arg]
    n = args.n_sqs if t == "sqs" else args.n
    url = _url(t, args, servers)
    raw = "raw aio-pika" if t == "amqp" else f"raw {t}"
    rows: dict[str, list[tuple[float, float]]] = {raw: [], f"transport {t}": [],
                                                   f"harness {t}": []}
    if t == "amqp":
        rows.update({"harness amqp (no recording)": [], "harness amqp (processes)": [],
                     "harness memory": []})
    try:
        for rep in range(args.reps):
            items = payments_workload(n, rep, invalid_rate=0, high_risk_rate=0)
            bodies = [i.body for i in items]
            rows[raw].append(await _timed(RAW[t](url, bodies, feed)))
            rows[f"transport {t}"].append(await _timed(transport_chain(url, bodies, feed)))
            rows[f"harness {t}"].append(await _timed(bench_harness(url, n, record=True,
                                                                   seed=rep)))
            if t == "amqp":
                rows["harness amqp (no recording)"].append(await _timed(
                    bench_harness(url, n, record=False, seed=rep)))
                wall, _ = await _timed(bench_harness(url, n, record=True, seed=rep,
                                                     processes=True))
                rows["harness amqp (processes)"].append((wall, math.nan))  # CPU elsewhere
                rows["harness memory"].append(await _timed(
                    bench_harness("memory", n, record=True, seed=rep)))
            print(f"{t} rep {rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {n / v[-1][0]:.0f}/s" for k, v in rows.items()), file=sys.stderr)
    finally:
        for server in servers:
            server.stop()
    base = n / statistics.median(w for w, _ in rows[raw])
    for name, runs in rows.items():
        med = statistics.median(w for w, _ in runs)
        result["rows"][name] = {
            "broker": t, "n": n, "payments_per_s": round(n / med, 1),
            "messages_per_s": round(n * HOPS / med, 1), "vs_raw": round(n / med / base, 3),
            "cpu_ms_per_payment": _cpu_ms(runs, n),
            "runs_s": [round(w, 3) for w, _ in runs]}
        if name != raw:
            result["ratios"][name] = result["rows"][name]["vs_raw"]


def _cpu_ms(runs: list[tuple[float, float]], n: int) -> float | None:
    """This process's median CPU ms per payment; None for a row whose work ran elsewhere."""
    cpus = [c for _, c in runs if not math.isnan(c)]
    return round(statistics.median(cpus) / n * 1000, 3) if cpus else None


async def main_async(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    result: dict = {"n": args.n, "reps": args.reps, "hops": HOPS,  # type: ignore[type-arg]
                    "rows": {}, "ratios": {}}
    for t in [t for t in args.transports.split(",") if t]:
        await bench_broker(t, args, result)
    return result


TARGETS = {"harness amqp": 0.7, "harness redis": 0.5, "harness nats": 0.5, "harness sqs": 0.5}


def render(result: dict) -> str:  # type: ignore[type-arg]
    lines = [f"medians of {result['reps']} repetitions (rows interleaved); n = payments per run",
             f"{'row':30} {'n':>5} {'payments/s':>11} {'x raw':>6} {'CPU ms/pay':>10}   runs (s)",
             "-" * 96]
    for name, row in result["rows"].items():
        runs = " ".join(f"{t:.2f}" for t in row["runs_s"])
        cpu = row["cpu_ms_per_payment"]
        lines.append(f"{name:30} {row['n']:>5} {row['payments_per_s']:>11.1f} "
                     f"{row['vs_raw']:>6.2f} {'-' if cpu is None else f'{cpu:.2f}':>10}   "
                     f"{runs}")
    for name, target in TARGETS.items():
        if name in result["ratios"]:
            ratio = result["ratios"][name]
            verdict = "met" if ratio >= target else "NOT met"
            lines.append(f"{name} / raw: {ratio:.2f} (target >= {target:.2f}: {verdict})")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="payments per run (default 2000)")
    p.add_argument("--reps", type=int, default=5, help="repetitions (median; default 5)")
    p.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--transports", default="amqp",
                   help="brokers to compare against their raw clients (default amqp; any of "
                        "amqp,redis,nats,sqs)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--sqs", default=None, help="SQS endpoint URL (default: start moto)")
    p.add_argument("--n-sqs", type=int, default=200, help="payments per SQS run (default 200)")
    args = p.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
