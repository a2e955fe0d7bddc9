"""End-to-end throughput of the payments pipeline vs raw aio-pika, measured in the same run.

Rows (medians over ``--reps`` repetitions, each of ``--n`` payment requests that all complete):

- ``harness memory``: PipelineRun on the memory transport, history recorded to a file, SQLite
  idempotency store (the demo's defaults);
- ``harness amqp``: the same on RabbitMQ (quorum queues, persistent, publisher confirms);
- ``harness amqp (no recording)``: the same with the Recorder disabled, to show its cost;
- ``raw aio-pika``: the same envelope bytes through a chain of quorum queues, one hop per
  message the pipeline delivers (6: requested -> orchestrator, accepted -> fraud,
  risk_assessed -> authorization, authorized -> ledger, posted -> notification,
  sent -> orchestrator); at every hop a consumer with the same prefetch publishes the bytes to the
  next queue (persistent, confirmed) and then acks. Same durability as the harness, no harness.

Messages/s = payments/s x 6 (every payment is six deliveries in both). The ratio is
harness-with-recording on RabbitMQ over raw aio-pika (target: at least 0.5). Both feed their
inputs through the same feeder (``FEED_WINDOW`` confirmed publishes in flight), so what is
measured is the pipeline, not one publisher's confirm round trip.

With ``--transports redis,nats,sqs`` it also measures, in the same run, ``harness <t>`` against
``raw <t>`` (benchmarks/raw_clients.py: the same chain written against redis-py, nats-py and
aiobotocore on the same server) and ``transport <t>`` (the same chain through the harness's
transport adapter alone: no runtime, store or recording); SQS runs on moto's server
started on a free port unless ``--sqs`` names an endpoint URL, with ``--n-sqs`` payments (moto
is slow).

Usage::

    PYTHONPATH=. python benchmarks/bench_pipeline.py [--n 2000] [--reps 3] [--broker URL] [--json]
    PYTHONPATH=. python benchmarks/bench_pipeline.py --transports redis,nats,sqs --n 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

from harness.demo import default_pipeline_path
from harness.history import Recorder
from harness.pipeline import load_pipeline
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


async def bench_harness(broker: str, n: int, *, record: bool, seed: int) -> float:
    """Seconds for ``n`` payments to complete through the pipeline."""
    spec = load_pipeline(default_pipeline_path())
    items = payments_workload(n, seed, invalid_rate=0, high_risk_rate=0,
                              run_tag=f"b{uuid.uuid4().hex[:6]}-")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        rec = Recorder(Path(tmp) / "history.jsonl", enabled=record)
        async with PipelineRun(spec, broker=broker, recorder=rec, run_dir=tmp) as run:
            if not record:  # settling needs the outcome events; keep only those
                rec.enabled = True
                rec.keep = False
                _only_terminal(rec)
            t0 = time.perf_counter()
            await feed([i.envelope for i in items], lambda env: run.send(env, expect="completed"))
            ok = await run.settle(timeout=300)
            elapsed = time.perf_counter() - t0
            outcomes = list(run.terminal.values())
            summary = await run.summary() if record else None
        rec.close()
    clean = ok and len(outcomes) == n and set(outcomes) == {"completed"}
    if summary is not None:
        clean = clean and summary.completed == n and not summary.lost \
            and not summary.duplicate_effects
    if not clean:
        raise SystemExit(f"benchmark run on {broker} did not complete cleanly: "
                         f"{summary or sorted(set(outcomes))}")
    return elapsed


def _only_terminal(rec: Recorder) -> None:
    """Record nothing but the events settling needs (outcome, dead_letter), in memory only."""
    real = rec.record

    def record(kind: str, **fields):  # type: ignore[no-untyped-def]
        if kind in ("outcome", "dead_letter"):
            return real(kind, **fields)
        return None

    rec._fh = None
    rec.record = record  # type: ignore[method-assign]


async def bench_raw(url: str, n: int, *, seed: int, prefetch: int = 8) -> float:
    """Seconds for ``n`` envelopes to pass 6 hops of raw aio-pika publish/consume/ack."""
    items = payments_workload(n, seed, invalid_rate=0, high_risk_rate=0)
    bodies = [i.body for i in items]
    tag = f"raw{uuid.uuid4().hex[:6]}."
    names = [f"{tag}hop{i}" for i in range(HOPS)]
    conn = await aio_pika.connect(url)
    done = asyncio.Event()
    arrived = 0
    try:
        pub = await conn.channel(publisher_confirms=True)
        admin = await conn.channel()
        for name in names:
            await admin.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        for i, name in enumerate(names):
            ch = await conn.channel(publisher_confirms=False)
            await ch.set_qos(prefetch_count=prefetch)
            q = await ch.get_queue(name)
            nxt = names[i + 1] if i + 1 < len(names) else None

            async def handle(msg: aio_pika.abc.AbstractIncomingMessage, nxt=nxt) -> None:
                nonlocal arrived
                if nxt is not None:
                    await pub.default_exchange.publish(
                        aio_pika.Message(msg.body, headers=dict(msg.headers),
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=nxt)
                await msg.ack()
                if nxt is None:
                    arrived += 1
                    if arrived == n:
                        done.set()

            await q.consume(handle)
        async def send(body: bytes) -> None:
            await pub.default_exchange.publish(
                aio_pika.Message(body, headers={"x-correlation-id": "c"},
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=names[0])

        t0 = time.perf_counter()
        await feed(bodies, send)
        await asyncio.wait_for(done.wait(), timeout=300)
        elapsed = time.perf_counter() - t0
        for name in names:
            await admin.queue_delete(name)
    finally:
        await conn.close()
    return elapsed


async def main_async(args: argparse.Namespace) -> dict:
    rows: dict[str, list[float]] = {"raw aio-pika": [], "harness amqp": [],
                                    "harness amqp (no recording)": [], "harness memory": []}
    for rep in range(args.reps):
        # interleave the rows so drift on the machine hits all of them alike
        rows["raw aio-pika"].append(await bench_raw(args.broker, args.n, seed=rep))
        rows["harness amqp"].append(await bench_harness(args.broker, args.n, record=True,
                                                        seed=rep))
        rows["harness amqp (no recording)"].append(
            await bench_harness(args.broker, args.n, record=False, seed=rep))
        rows["harness memory"].append(await bench_harness("memory", args.n, record=True,
                                                          seed=rep))
        print(f"rep {rep + 1}/{args.reps}: " + ", ".join(
            f"{k} {args.n / v[-1]:.0f}/s" for k, v in rows.items()), file=sys.stderr)
    result = {"n": args.n, "reps": args.reps, "hops": HOPS, "rows": {}}
    for name, times in rows.items():
        med = statistics.median(times)
        result["rows"][name] = {"payments_per_s": round(args.n / med, 1),
                                "messages_per_s": round(args.n * HOPS / med, 1),
                                "runs_s": [round(t, 3) for t in times]}
    for t in [t for t in args.transports.split(",") if t]:
        await bench_transport(t, args, result)
    raw = result["rows"]["raw aio-pika"]["payments_per_s"]
    result["ratio_harness_amqp_vs_raw"] = round(
        result["rows"]["harness amqp"]["payments_per_s"] / raw, 3)
    result["ratio_no_recording_vs_raw"] = round(
        result["rows"]["harness amqp (no recording)"]["payments_per_s"] / raw, 3)
    return result


def _transport_url(t: str, args: argparse.Namespace, servers: list) -> str:  # type: ignore[type-arg]
    if t == "sqs":
        endpoint = args.sqs
        if not endpoint:
            from harness.transport.moto_server import MotoServer

            servers.append(MotoServer.start())
            endpoint = servers[-1].endpoint
        return f"sqs://us-east-1?endpoint={endpoint}"
    return {"redis": args.redis, "nats": args.nats}[t]


async def bench_transport(t: str, args: argparse.Namespace, result: dict) -> None:  # type: ignore[type-arg]
    """``harness <t>`` vs ``raw <t>`` on the same server, interleaved, into ``result``."""
    from benchmarks.raw_clients import RAW, transport_chain

    servers: list = []  # type: ignore[type-arg]
    n = args.n_sqs if t == "sqs" else args.n
    url = _transport_url(t, args, servers)
    times: dict[str, list[float]] = {f"raw {t}": [], f"transport {t}": [], f"harness {t}": []}
    try:
        for rep in range(args.reps):
            items = payments_workload(n, rep, invalid_rate=0, high_risk_rate=0)
            bodies = [i.body for i in items]
            times[f"raw {t}"].append(await RAW[t](url, bodies, feed))
            times[f"transport {t}"].append(await transport_chain(url, bodies, feed))
            times[f"harness {t}"].append(await bench_harness(url, n, record=True, seed=rep))
            print(f"rep {rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {n / v[-1]:.0f}/s" for k, v in times.items()), file=sys.stderr)
    finally:
        for server in servers:
            server.stop()
    for name, ts in times.items():
        med = statistics.median(ts)
        result["rows"][name] = {"payments_per_s": round(n / med, 1),
                                "messages_per_s": round(n * HOPS / med, 1),
                                "runs_s": [round(x, 3) for x in ts], "n": n}
    raw = result["rows"][f"raw {t}"]["payments_per_s"]
    result.setdefault("ratios", {})[t] = round(
        result["rows"][f"harness {t}"]["payments_per_s"] / raw, 3)
    result.setdefault("transport_ratios", {})[t] = round(
        result["rows"][f"transport {t}"]["payments_per_s"] / raw, 3)


def render(result: dict) -> str:
    lines = [f"{'row':30} {'payments/s':>11} {'messages/s':>11}   runs (s, n={result['n']})",
             "-" * 78]
    for name, row in result["rows"].items():
        runs = " ".join(f"{t:.2f}" for t in row["runs_s"])
        lines.append(f"{name:30} {row['payments_per_s']:>11.1f} {row['messages_per_s']:>11.1f}"
                     f"   {runs}")
    lines.append(f"ratio harness amqp / raw aio-pika: {result['ratio_harness_amqp_vs_raw']:.2f}"
                 f" (target >= 0.50); without recording: "
                 f"{result['ratio_no_recording_vs_raw']:.2f}")
    for t, ratio in (result.get("ratios") or {}).items():
        lines.append(f"ratio harness {t} / raw {t}: {ratio:.2f} (target >= 0.50); transport "
                     f"{t} alone / raw {t}: {result['transport_ratios'][t]:.2f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="payments per run (default 2000)")
    p.add_argument("--reps", type=int, default=3, help="repetitions (median; default 3)")
    p.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--transports", default="",
                   help="also compare these against their raw clients: redis,nats,sqs")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--sqs", default=None, help="SQS endpoint URL (default: start moto)")
    p.add_argument("--n-sqs", type=int, default=200, help="payments per SQS run (default 200)")
    args = p.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
