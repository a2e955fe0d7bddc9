"""Cost of the harness owning the routing between black boxes (issue 11), on RabbitMQ.

    PYTHONPATH=. python benchmarks/bench_routing.py [--messages 2000] [--repeat 5]
        [--broker amqp://guest:guest@127.0.0.1:5672/] [--window 32]

Same broker, same run, alternating: a publisher (aio-pika, publisher confirms, --window
publishes in flight, like a black box with a confirm channel) sends --messages envelopes of the
payments pipeline's size either

- direct: to the consumer's queue through the default exchange (the baseline), or
- routed: to the agent's topic exchange with routing key = type; the harness's Router moves each
  one to the consumer's queue through the AmqpTransport (confirmed, recorded in a history): the
  path of a consumer that message faults target;
- tapped: the same exchange, bound by the harness to the consumer's queue (the broker routes)
  and to the router queue, which records each publish with its bytes: the path of a consumer
  no message fault targets.

The publisher and the consumer (the agents) run in a child process; the Router runs in this
one, as it does in a run. A consumer on the queue acks each message and notes its arrival.
Throughput = messages / (first publish -> last arrival) with --window publishes in flight;
latency = publish call -> arrival with one message in flight (--latency-messages). Prints
medians over --repeat rounds, the routed/direct throughput ratio and the added p50 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.blackbox.router import Router  # noqa: E402
from harness.checkers.facts import percentile  # noqa: E402
from harness.envelope import Envelope, Producer  # noqa: E402
from harness.history import Recorder  # noqa: E402
from harness.transport.amqp import AmqpTransport  # noqa: E402

TYPE = "payment.risk_assessed"


def _bodies(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        parent = Envelope.ingress(type="payment.accepted", schema_version=1, payload={},
                                  correlation_id=f"bench-{i:06d}")
        out.append(parent.child(type=TYPE, schema_version=1, producer=Producer("fraud", "1"),
                                payload={"payment_id": f"pay-{i:06d}", "amount_cents": 1234,
                                         "currency": "EUR", "customer_id": "cust-1",
                                         "merchant_id": "m-1", "risk_level": "low",
                                         "reasons": [], "memo_summary": "no memo"}).to_bytes())
    return out


async def _agents(broker: str, queue: str, exchange_name: str, n: int, window: int) -> dict:
    """The agents' side (its own process): publish n envelopes, consume them, time them."""
    bodies = _bodies(n)
    routed = bool(exchange_name)
    conn = await aio_pika.connect(broker)
    pub = await conn.channel(publisher_confirms=True)
    target = await pub.get_exchange(exchange_name) if routed else pub.default_exchange
    key = TYPE if routed else queue
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    done = asyncio.Event()
    sub_channel = await conn.channel()
    await sub_channel.set_qos(prefetch_count=256)
    q = await sub_channel.get_queue(queue)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrived[int(message.headers.get("x-bench-i", -1))] = time.perf_counter()
        await message.ack()
        if len(arrived) >= n:
            done.set()

    await q.consume(on_message)
    gate = asyncio.Semaphore(window)

    async def send(i: int, body: bytes) -> None:
        async with gate:
            sent[i] = time.perf_counter()
            await target.publish(aio_pika.Message(body, headers={"x-bench-i": i},
                                                  delivery_mode=2), routing_key=key)
            if window == 1:  # latency phase: one message in flight end to end
                while i not in arrived:
                    await asyncio.sleep(0.0002)

    t0 = time.perf_counter()
    await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = max(arrived.values()) - t0
    lat = [(arrived[i] - sent[i]) * 1000 for i in sent if i in arrived]
    await conn.close()
    return {"msg_s": n / elapsed, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}


async def _round(broker: str, mode: str, n: int, window: int) -> dict:
    """One measurement: the router (when routed) here, the agents in a child process."""
    routed = mode != "direct"
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    queue, exchange_name = prefix + "authorization", prefix + "fraud.out"
    transport = AmqpTransport(broker, prefix=prefix)
    await transport.connect()
    await transport.declare(queue, delivery_limit=5)
    router = None
    if routed:
        router = Router(broker, exchanges={exchange_name: "fraud"},
                        route=lambda t: [queue] if t == TYPE else [],
                        forward=lambda q, b, h: transport.publish(q, b, headers=h),
                        recorder=Recorder(), queue=prefix + "_router",
                        records_publish=False, owned=(exchange_name,),
                        direct={TYPE: [queue]} if mode == "tapped" else None)
        await router.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--agents", queue, exchange_name if routed else "",
            "--broker", broker, "--messages", str(n), "--window", str(window),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"agents process failed ({proc.returncode})")
        return json.loads(out)
    finally:
        if router is not None:
            await router.close()
        await transport.delete(queue)
        await transport.close()


def _table(title: str, rows: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("msg_s", "p50_ms", "p99_ms")}
           for m, rs in rows.items()}
    print(title)
    print(f"  {'mode':8} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for mode, m in med.items():
        print(f"  {mode:8} {m['msg_s']:9.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f}")
    return med


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--latency-messages", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--agents", nargs=2, metavar=("QUEUE", "EXCHANGE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.agents:
        result = await _agents(args.broker, args.agents[0], args.agents[1], args.messages,
                               args.window)
        print(json.dumps(result))
        return
    modes = ("direct", "routed", "tapped")
    thr: dict[str, list[dict]] = {m: [] for m in modes}
    lat: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode in modes:
            thr[mode].append(await _round(args.broker, mode, args.messages, args.window))
            lat[mode].append(await _round(args.broker, mode, args.latency_messages, 1))
    print(f"medians of {args.repeat} rounds, alternating; body {len(_bodies(1)[0])} bytes")
    t = _table(f"throughput: {args.messages} messages, {args.window} publishes in flight", thr)
    m = _table(f"latency: {args.latency_messages} messages, one in flight", lat)
    for mode in modes[1:]:
        ratio = t[mode]["msg_s"] / t["direct"]["msg_s"]
        added = m[mode]["p50_ms"] - m["direct"]["p50_ms"]
        print(f"{mode}/direct throughput: {ratio:.2f}x (target >= 0.5x); "
              f"added p50 latency: {added:.2f} ms (target < 2 ms)")


if __name__ == "__main__":
    asyncio.run(main())
