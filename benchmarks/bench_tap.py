"""Cost of the tap on a black box's broker link (issue 11: deliveries and acks recorded), on
RabbitMQ.

    PYTHONPATH=. python benchmarks/bench_tap.py [--messages 3000] [--repeat 5]
        [--broker amqp://guest:guest@127.0.0.1:5672/] [--prefetch 32]

Same broker, same run, alternating: an agent (aio-pika, in a child process, as a black box is)
connects either straight to the broker (direct, the baseline) or through an
:class:`~harness.blackbox.tap.AmqpTap` in this process (tapped), which parses every frame and
records deliver/ack/emit events in a history.

- throughput: --messages envelopes wait in a queue; the agent consumes them with --prefetch
  deliveries in flight and acks each; messages / (first delivery -> last ack), as the agent
  measures it;
- latency: this process publishes one envelope at a time; the agent answers each with a publish
  (to a reply queue) and then acks; publish -> answer received here, round trip through the
  agent's link (through the tap twice when tapped).

Prints medians over --repeat rounds, the tapped/direct throughput ratio and the added p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.blackbox.tap import AmqpTap  # noqa: E402
from harness.checkers.facts import percentile  # noqa: E402
from harness.envelope import Envelope  # noqa: E402
from harness.history import Recorder  # noqa: E402


def _body(i: int) -> bytes:
    return Envelope.ingress(type="payment.authorized", schema_version=1,
                            payload={"payment_id": f"pay-{i:06d}", "amount_cents": 1234,
                                     "currency": "EUR", "customer_id": "cust-1",
                                     "merchant_id": "m-1", "authorization_code": "ABCD1234"},
                            correlation_id=f"bench-{i:06d}").to_bytes()


async def _agent(url: str, queue: str, reply: str, mode: str, n: int, prefetch: int) -> None:
    """The child: consume ``n`` messages; ``echo`` answers each on ``reply`` before its ack."""
    conn = await aio_pika.connect(url)
    channel = await conn.channel(publisher_confirms=mode == "echo")
    await channel.set_qos(prefetch_count=prefetch)
    q = await channel.get_queue(queue, ensure=False)
    done = asyncio.Event()
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not seen["n"]:
            seen["first"] = time.perf_counter()
        if mode == "echo":
            await channel.default_exchange.publish(aio_pika.Message(message.body),
                                                   routing_key=reply)
        await message.ack()
        seen["n"] += 1
        if seen["n"] == n:
            seen["last"] = time.perf_counter()
            done.set()

    await q.consume(handle)
    print("ready", flush=True)
    await done.wait()
    print(json.dumps({"elapsed": seen["last"] - seen["first"]}), flush=True)
    await conn.close()


def _url_via(broker: str, port: int) -> str:
    parts = urlsplit(broker)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


async def _round(broker: str, mode: str, tapped: bool, n: int, prefetch: int) -> float:
    """One round; seconds (throughput) or the p50 latency in ms (echo)."""
    conn = await aio_pika.connect(broker)
    ch = await conn.channel()
    queue = await ch.declare_queue(f"bench-tap-{uuid.uuid4().hex[:8]}", auto_delete=False)
    reply = await ch.declare_queue(f"bench-tap-r-{uuid.uuid4().hex[:8]}", exclusive=True)
    tap = None
    url = broker
    if tapped:
        parts = urlsplit(broker)
        tap = AmqpTap("agent", queue.name, (parts.hostname or "127.0.0.1", parts.port or 5672),
                      Recorder().record)
        await tap.start()
        url = _url_via(broker, tap.port)
    bodies = [_body(i) for i in range(n)]
    if mode == "throughput":
        for body in bodies:
            await ch.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", url, queue.name, reply.name, mode, str(n),
        str(prefetch), stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert (await child.stdout.readline()).strip() == b"ready"
    out: float
    if mode == "throughput":
        out = json.loads(await child.stdout.readline())["elapsed"]
    else:
        answers: asyncio.Queue[float] = asyncio.Queue()
        await reply.consume(lambda m: answers.put_nowait(time.perf_counter()), no_ack=True)
        lat = []
        for body in bodies:
            t0 = time.perf_counter()
            await ch.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
            lat.append((await answers.get() - t0) * 1000)
        await child.stdout.readline()
        out = float(percentile(lat, 50) or 0.0)
    await child.wait()
    await queue.delete(if_unused=False, if_empty=False)
    await conn.close()
    if tap is not None:
        await tap.close()
    return out


async def main(args: argparse.Namespace) -> None:
    rows: dict[str, dict[str, list[float]]] = {"direct": {"t": [], "l": []},
                                               "tapped": {"t": [], "l": []}}
    for _ in range(args.repeat):
        for name in ("direct", "tapped"):  # alternating: same broker, same conditions
            secs = await _round(args.broker, "throughput", name == "tapped", args.messages,
                                args.prefetch)
            rows[name]["t"].append(args.messages / secs)
            rows[name]["l"].append(await _round(args.broker, "echo", name == "tapped",
                                                args.latency_messages, 1))
    med = {k: (statistics.median(v["t"]), statistics.median(v["l"])) for k, v in rows.items()}
    print(f"{'path':<8} {'msgs/s (median)':>16} {'round trip p50 ms':>18}")
    for name, (tput, lat) in med.items():
        print(f"{name:<8} {tput:>16.0f} {lat:>18.3f}")
    print(f"tapped/direct throughput: {med['tapped'][0] / med['direct'][0]:.2f}x; "
          f"added round-trip p50: {med['tapped'][1] - med['direct'][1]:.3f} ms "
          f"({args.repeat} rounds, {args.messages} messages, prefetch {args.prefetch})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, url, q, r, mode, n, prefetch = sys.argv
        asyncio.run(_agent(url, q, r, mode, int(n), int(prefetch)))
        sys.exit(0)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--latency-messages", type=int, default=300)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--prefetch", type=int, default=32)
    asyncio.run(main(p.parse_args()))
