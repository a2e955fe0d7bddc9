"""Raw-client baselines for bench_pipeline.py: the payments pipeline's 6-hop chain written
directly against aio-pika (RabbitMQ), redis-py (Streams), nats-py (JetStream pull consumers) and
aiobotocore (SQS), plus the same chain through the harness's transport adapter alone.

At every hop a consumer takes up to ``prefetch`` messages, publishes each body to the next hop
(confirmed the broker's way: publisher confirm, XADD reply, PubAck, SendMessage reply) and then
acks it (basic.ack, XACK + XDEL, ack, DeleteMessageBatch). Same feeder, same bodies, no harness.
Every chain runs through :func:`run_chain`: the hops as tasks, the feeder, the arrival count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOPS = 6
Feed = Callable[[list[bytes], Callable[[bytes], Awaitable[None]]], Awaitable[None]]


class Arrivals:
    """Counts the messages that left the last hop; ``done`` once all have."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.done = asyncio.Event()

    def add(self, k: int = 1) -> None:
        self.count += k
        if self.count >= self.n:
            self.done.set()


async def run_chain(bodies: list[bytes], feed: Feed, send: Callable[[bytes], Awaitable[None]],
                    arrivals: Arrivals, hops: Sequence[Callable[[], Awaitable[None]]] = (),
                    timeout: float = 600) -> float:
    """Seconds from the first publish to the last arrival; ``hops`` run as tasks meanwhile. A
    hop task that ends (an error its loop does not catch) fails the chain at once, instead of
    leaving it to wait ``timeout`` for arrivals that cannot come."""
    tasks = [asyncio.create_task(hop()) for hop in hops]  # type: ignore[var-annotated,arg-type]
    try:
        t0 = time.perf_counter()
        await feed(bodies, send)
        done = asyncio.create_task(arrivals.done.wait())
        finished, _ = await asyncio.wait([done, *tasks], timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        if done not in finished:
            done.cancel()
            for task in finished:  # a hop died: its error, not a silent wait
                task.result()
                raise RuntimeError("a hop of the chain stopped")
            raise TimeoutError(f"{arrivals.count} of {arrivals.n} arrived in {timeout} s")
        return time.perf_counter() - t0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _names(sep: str = ".") -> list[str]:
    tag = f"raw{uuid.uuid4().hex[:6]}"
    return [f"{tag}{sep}hop{i}" for i in range(HOPS)]


async def raw_amqp(url: str, bodies: list[bytes], feed: Feed, prefetch: int = 8) -> float:
    import aio_pika

    names = _names()
    arrivals = Arrivals(len(bodies))
    conn = await aio_pika.connect(url)
    try:
        pub = await conn.channel(publisher_confirms=True)
        admin = await conn.channel()
        for name in names:
            await admin.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})

        async def publish(body: bytes, queue: str, headers: dict[str, Any]) -> None:
            await pub.default_exchange.publish(
                aio_pika.Message(body, headers=headers,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue)

        for i, name in enumerate(names):
            ch = await conn.channel(publisher_confirms=False)
            await ch.set_qos(prefetch_count=prefetch)
            nxt = names[i + 1] if i + 1 < HOPS else None

            async def handle(msg: aio_pika.abc.AbstractIncomingMessage, nxt=nxt) -> None:
                if nxt is not None:
                    await publish(msg.body, nxt, dict(msg.headers))
                await msg.ack()
                if nxt is None:
                    arrivals.add()

            await (await ch.get_queue(name)).consume(handle)
        elapsed = await run_chain(bodies, feed, lambda body: publish(
            body, names[0], {"x-correlation-id": "c"}), arrivals)
        for name in names:
            await admin.queue_delete(name)
        return elapsed
    finally:
        await conn.close()


async def raw_redis(url: str, bodies: list[bytes], feed: Feed, prefetch: int = 8) -> float:
    import redis.asyncio as aioredis

    r = aioredis.from_url(url.split("?", 1)[0])
    names = _names()
    arrivals = Arrivals(len(bodies))
    for name in names:
        await r.xgroup_create(name, "g", id="0", mkstream=True)

    def hop(i: int) -> Callable[[], Awaitable[None]]:
        nxt = names[i + 1] if i + 1 < HOPS else None

        async def loop() -> None:
            while True:
                reply = await r.xreadgroup("g", "c", {names[i]: ">"}, count=prefetch, block=100)
                for _s, entries in reply or []:
                    ids = []
                    for eid, fields in entries:
                        if nxt is not None:
                            await r.xadd(nxt, fields)
                        ids.append(eid)
                    async with r.pipeline(transaction=True) as p:
                        p.xack(names[i], "g", *ids)
                        p.xdel(names[i], *ids)
                        await p.execute()
                    if nxt is None:
                        arrivals.add(len(ids))

        return loop

    async def send(body: bytes) -> None:
        await r.xadd(names[0], {"body": body, "headers": b"{}"})

    try:
        return await run_chain(bodies, feed, send, arrivals, [hop(i) for i in range(HOPS)])
    finally:
        await r.delete(*names)
        await r.aclose()


async def raw_nats(url: str, bodies: list[bytes], feed: Feed, prefetch: int = 8) -> float:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

    nc = await nats.connect(url.split("?", 1)[0])
    js = nc.jetstream()
    tag = f"raw{uuid.uuid4().hex[:6]}"
    stream = f"R_{tag}"
    subjects = [f"{tag}.hop{i}" for i in range(HOPS)]
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{tag}.>"],
                                     retention=RetentionPolicy.WORK_QUEUE,
                                     storage=StorageType.FILE))
    subs = []
    for i, subject in enumerate(subjects):
        await js.add_consumer(stream, ConsumerConfig(durable_name=f"hop{i}",
                                                     filter_subject=subject,
                                                     ack_policy=AckPolicy.EXPLICIT))
        subs.append(await js.pull_subscribe_bind(durable=f"hop{i}", stream=stream))
    arrivals = Arrivals(len(bodies))

    def hop(i: int) -> Callable[[], Awaitable[None]]:
        nxt = subjects[i + 1] if i + 1 < HOPS else None

        async def loop() -> None:
            while True:
                try:
                    msgs = await subs[i].fetch(batch=1, timeout=0.5)
                    # batch=1 then whatever is already buffered: nats-py's batch>1 waits to fill
                    with contextlib.suppress(Exception):
                        msgs += await subs[i].fetch(batch=prefetch - 1, timeout=0.001)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                for m in msgs:
                    if nxt is not None:
                        await js.publish(nxt, m.data)
                    await m.ack()
                if nxt is None:
                    arrivals.add(len(msgs))

        return loop

    async def send(body: bytes) -> None:
        await js.publish(subjects[0], body)

    try:
        return await run_chain(bodies, feed, send, arrivals, [hop(i) for i in range(HOPS)])
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def raw_sqs(url: str, bodies: list[bytes], feed: Feed, prefetch: int = 8) -> float:
    from aiobotocore.session import get_session

    parts = urlsplit(url)
    endpoint = parse_qs(parts.query).get("endpoint", [None])[0]
    kw: dict[str, Any] = {"region_name": parts.hostname or "us-east-1", "endpoint_url": endpoint,
                          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    async with get_session().create_client("sqs", **kw) as sqs:
        urls = [(await sqs.create_queue(QueueName=name))["QueueUrl"] for name in _names("_")]
        arrivals = Arrivals(len(bodies))

        def hop(i: int) -> Callable[[], Awaitable[None]]:
            nxt = urls[i + 1] if i + 1 < HOPS else None

            async def loop() -> None:
                idle = 0.05
                while True:
                    reply = await sqs.receive_message(QueueUrl=urls[i], MaxNumberOfMessages=10,
                                                      WaitTimeSeconds=0)
                    msgs = reply.get("Messages") or []
                    if not msgs:
                        await asyncio.sleep(idle)
                        idle = min(0.5, idle * 2)
                        continue
                    idle = 0.05
                    for m in msgs:
                        if nxt is not None:
                            await sqs.send_message(QueueUrl=nxt, MessageBody=m["Body"])
                    await sqs.delete_message_batch(QueueUrl=urls[i], Entries=[
                        {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                        for k, m in enumerate(msgs)])
                    if nxt is None:
                        arrivals.add(len(msgs))

            return loop

        async def send(body: bytes) -> None:
            await sqs.send_message(QueueUrl=urls[0], MessageBody=body.decode("utf-8"),
                                   MessageAttributes={"h": {"DataType": "String",
                                                            "StringValue": json.dumps({})}})

        try:
            return await run_chain(bodies, feed, send, arrivals, [hop(i) for i in range(HOPS)],
                                   timeout=900)
        finally:
            for u in urls:
                await sqs.delete_queue(QueueUrl=u)


RAW = {"amqp": raw_amqp, "redis": raw_redis, "nats": raw_nats, "sqs": raw_sqs}


async def transport_chain(url: str, bodies: list[bytes], feed: Feed, prefetch: int = 8) -> float:
    """The same chain through harness.transport (no runtime, store or recording): what the
    adapter itself costs over its raw client."""
    from harness.transport import Delivery, open_transport

    names = _names()
    arrivals = Arrivals(len(bodies))
    async with open_transport(url) as t:
        for name in names:
            await t.declare(name)
        subs = []
        for i, name in enumerate(names):
            nxt = names[i + 1] if i + 1 < HOPS else None

            async def handle(d: Delivery, nxt: str | None = nxt) -> None:
                if nxt is not None:
                    await t.publish(nxt, d.body, headers=d.headers)
                await d.ack()
                if nxt is None:
                    arrivals.add()

            subs.append(await t.consume(name, handle, prefetch=prefetch))

        async def send(body: bytes) -> None:
            await t.publish(names[0], body, headers={"x-correlation-id": "c"})

        try:
            return await run_chain(bodies, feed, send, arrivals, timeout=900)
        finally:
            for sub in subs:
                await sub.cancel()
            for name in names:
                await t.delete(name)
