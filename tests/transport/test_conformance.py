"""One conformance suite for every transport: the semantics documented in transport/base.py.

Parametrised over every transport (memory, amqp, redis, nats, sqs) by the ``broker`` fixture
in conftest.py; docs/transports.md lists what each broker does differently.
"""

from __future__ import annotations

import asyncio

import pytest

from harness.transport import DeadLetter, Delivery, Transport
from tests.transport.conftest import eventually

pytestmark = pytest.mark.timeout(30)


async def drain_until(t: Transport, queue: str, n: int, timeout: float = 5.0) -> list[DeadLetter]:
    """Dead letters of ``queue`` until ``n`` have arrived (the broker dead-letters async)."""
    found: list[DeadLetter] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found) < n:
        found += await t.dead_letters(queue)
        if len(found) >= n:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(found)} dead letters on {queue}, expected {n}")
        await asyncio.sleep(0.02)
    return found


async def test_publish_consume_keeps_bytes_and_headers(broker, transport):
    q = broker.q("orders")
    await transport.declare(q)
    body = b"\x00\xff binary \xfe not utf-8"
    await transport.publish(q, body, headers={"x-correlation-id": "c-1", "x-message-type": "t"})
    got: list[Delivery] = []

    async def handle(d: Delivery) -> None:
        got.append(d)
        await d.ack()

    sub = await transport.consume(q, handle)
    await eventually(lambda: len(got) == 1, what="one delivery")
    await sub.cancel()
    d = got[0]
    assert d.body == body
    assert d.headers["x-correlation-id"] == "c-1"
    assert d.headers["x-message-type"] == "t"
    assert d.queue == q
    assert d.delivery_count == 1
    assert d.redelivered is False
    assert d.settled


async def test_acked_message_is_gone(broker, transport):
    q = broker.q("acked")
    await transport.declare(q)
    await transport.publish(q, b"m")
    got: list[Delivery] = []

    async def handle(d: Delivery) -> None:
        got.append(d)
        await d.ack()

    sub = await transport.consume(q, handle)
    await eventually(lambda: len(got) == 1)
    await sub.cancel()
    # a fresh consumer on a fresh connection sees nothing
    other = await broker.open()
    again: list[Delivery] = []
    sub2 = await other.consume(q, lambda d: _append_ack(again, d))
    await asyncio.sleep(0.3)
    await sub2.cancel()
    assert again == []
    assert await transport.depth(q) == 0


async def _append_ack(out: list[Delivery], d: Delivery) -> None:
    out.append(d)
    await d.ack()


async def test_nack_redelivers_with_growing_delivery_count(broker, transport):
    q = broker.q("nacked")
    await transport.declare(q)
    await transport.publish(q, b"retry me", headers={"x-correlation-id": "c-2"})
    seen: list[tuple[int, bool, bytes]] = []

    async def handle(d: Delivery) -> None:
        seen.append((d.delivery_count, d.redelivered, d.body))
        if d.delivery_count < 3:
            await d.nack()
        else:
            await d.ack()

    sub = await transport.consume(q, handle)
    await eventually(lambda: len(seen) == 3, what="three deliveries")
    await asyncio.sleep(0.1)
    await sub.cancel()
    assert seen == [(1, False, b"retry me"), (2, True, b"retry me"), (3, True, b"retry me")]


async def test_cancel_without_settling_redelivers(broker, transport):
    q = broker.q("crash")
    await transport.declare(q)
    await transport.publish(q, b"in flight")
    first: list[Delivery] = []

    async def stuck(d: Delivery) -> None:
        first.append(d)
        await asyncio.sleep(60)  # never settles: the consumer "crashes"

    sub = await transport.consume(q, stuck)
    await eventually(lambda: len(first) == 1)
    await sub.cancel()
    second: list[Delivery] = []
    sub2 = await transport.consume(q, lambda d: _append_ack(second, d))
    await eventually(lambda: len(second) == 1, what="redelivery after cancel")
    await sub2.cancel()
    assert second[0].body == b"in flight"
    assert second[0].redelivered is True
    assert second[0].delivery_count == 2


async def test_closed_transport_returns_unsettled_to_another_connection(broker):
    q = broker.q("connloss")
    a = await broker.open()
    await a.declare(q)
    await a.publish(q, b"one")
    held: list[Delivery] = []

    async def hold(d: Delivery) -> None:
        held.append(d)
        await asyncio.sleep(60)

    await a.consume(q, hold)
    await eventually(lambda: len(held) == 1)
    await a.close()
    b = await broker.open()
    got: list[Delivery] = []
    sub = await b.consume(q, lambda d: _append_ack(got, d))
    await eventually(lambda: len(got) == 1, what="redelivery on another connection")
    await sub.cancel()
    assert got[0].body == b"one" and got[0].redelivered


async def test_handler_exception_leaves_message_for_redelivery(broker, transport):
    q = broker.q("boom")
    await transport.declare(q)
    await transport.publish(q, b"x")
    seen: list[int] = []

    async def handle(d: Delivery) -> None:
        seen.append(d.delivery_count)
        if d.delivery_count == 1:
            raise RuntimeError("handler bug")
        await d.ack()

    sub = await transport.consume(q, handle)
    await eventually(lambda: len(seen) == 2, what="redelivery after exception")
    await sub.cancel()
    assert seen == [1, 2]


@pytest.mark.parametrize("limit", [1, 2])
async def test_delivery_limit_dead_letters_after_limit_plus_one_deliveries(broker, transport,
                                                                           limit):
    q = broker.q(f"limited{limit}")
    await transport.declare(q, delivery_limit=limit)
    await transport.publish(q, b"poison", headers={"x-correlation-id": "c-poison"})
    counts: list[int] = []

    async def handle(d: Delivery) -> None:
        counts.append(d.delivery_count)
        await d.nack()

    sub = await transport.consume(q, handle)
    dead = await drain_until(transport, q, 1)
    await asyncio.sleep(0.2)
    await sub.cancel()
    assert counts == list(range(1, limit + 2))
    assert len(dead) == 1
    dl = dead[0]
    assert dl.reason == "delivery_limit"
    assert dl.body == b"poison"
    assert dl.queue == q
    assert dl.correlation_id == "c-poison"
    assert dl.detail


async def test_crashes_count_towards_the_delivery_limit(broker, transport):
    q = broker.q("crashlimit")
    await transport.declare(q, delivery_limit=1)
    await transport.publish(q, b"kills consumers")
    counts: list[int] = []
    for _ in range(2):
        async def stuck(d: Delivery) -> None:
            counts.append(d.delivery_count)
            await asyncio.sleep(60)

        sub = await transport.consume(q, stuck)
        before = len(counts)
        await eventually(lambda before=before: len(counts) > before)
        await sub.cancel()
    dead = await drain_until(transport, q, 1)
    assert counts == [1, 2]
    assert dead[0].reason == "delivery_limit"
    assert await transport.depth(q) == 0


async def test_dead_letter_keeps_bytes_reason_detail_queue_and_correlation(broker, transport):
    q = broker.q("validated")
    await transport.declare(q)
    body = b'{"not": "an envelope"\xff'
    await transport.publish(q, body, headers={"x-correlation-id": "c-hdr"})

    async def handle(d: Delivery) -> None:
        await d.dead_letter("schema_invalid", "payload.amount: not a number",
                            correlation_id="c-explicit")

    sub = await transport.consume(q, handle)
    dead = await drain_until(transport, q, 1)
    await sub.cancel()
    dl = dead[0]
    assert dl.body == body
    assert dl.reason == "schema_invalid"
    assert dl.detail == "payload.amount: not a number"
    assert dl.queue == q
    assert dl.correlation_id == "c-explicit"
    assert await transport.depth(q) == 0
    assert await transport.dead_letters(q) == []  # drained


async def test_dead_letter_falls_back_to_the_correlation_header(broker, transport):
    q = broker.q("cidhdr")
    await transport.declare(q)
    await transport.publish(q, b"x", headers={"x-correlation-id": "c-from-header"})

    async def handle(d: Delivery) -> None:
        await d.dead_letter("not_json", "line 1")

    sub = await transport.consume(q, handle)
    dead = await drain_until(transport, q, 1)
    await sub.cancel()
    assert dead[0].correlation_id == "c-from-header"


async def test_nack_without_requeue_dead_letters_as_rejected(broker, transport):
    q = broker.q("rejected")
    await transport.declare(q)
    await transport.publish(q, b"no", headers={"x-correlation-id": "c-rej"})

    async def handle(d: Delivery) -> None:
        await d.nack(requeue=False)

    sub = await transport.consume(q, handle)
    dead = await drain_until(transport, q, 1)
    await sub.cancel()
    assert dead[0].reason == "rejected"
    assert dead[0].body == b"no"
    assert dead[0].queue == q
    assert dead[0].correlation_id == "c-rej"


async def test_fifo_for_single_consumer_with_prefetch_one(broker, transport):
    q = broker.q("fifo")
    await transport.declare(q)
    n = 50
    for i in range(n):
        await transport.publish(q, str(i).encode())
    got: list[int] = []

    async def handle(d: Delivery) -> None:
        got.append(int(d.body))
        await d.ack()

    sub = await transport.consume(q, handle, prefetch=1)
    await eventually(lambda: len(got) == n, what=f"{n} deliveries")
    await sub.cancel()
    assert got == list(range(n))


async def test_prefetch_bounds_unsettled_deliveries(broker, transport):
    q = broker.q("prefetch")
    await transport.declare(q)
    for i in range(10):
        await transport.publish(q, str(i).encode())
    held: list[Delivery] = []

    async def hold(d: Delivery) -> None:
        held.append(d)

    sub = await transport.consume(q, hold, prefetch=3)
    await eventually(lambda: len(held) == 3)
    await asyncio.sleep(0.3)
    assert len(held) == 3  # no fourth until one is settled
    await held[0].ack()
    await eventually(lambda: len(held) == 4, what="a fourth after an ack")
    for d in held[1:]:
        await d.ack()
    await eventually(lambda: len(held) == 7)
    await sub.cancel()


async def test_depth_counts_ready_messages_and_purge_empties(broker, transport):
    q = broker.q("depth")
    await transport.declare(q)
    for _ in range(4):
        await transport.publish(q, b"m")
    assert await transport.depth(q) == 4
    await transport.purge(q)
    assert await transport.depth(q) == 0


async def test_settling_twice_is_an_error(broker, transport):
    q = broker.q("twice")
    await transport.declare(q)
    await transport.publish(q, b"m")
    errors: list[Exception] = []

    async def handle(d: Delivery) -> None:
        await d.ack()
        try:
            await d.ack()
        except RuntimeError as exc:
            errors.append(exc)

    sub = await transport.consume(q, handle)
    await eventually(lambda: len(errors) == 1)
    await sub.cancel()


async def test_declare_is_idempotent(broker, transport):
    q = broker.q("again")
    await transport.declare(q, delivery_limit=3)
    await transport.declare(q, delivery_limit=3)
    await transport.publish(q, b"m")
    assert await transport.depth(q) == 1
