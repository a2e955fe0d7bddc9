"""What the pull-based transports (Redis Streams, NATS JetStream, SQS) must do beyond the
conformance suite: a consumer that really crashes (no give-back at all) is redelivered by the
broker's own timer, one that crashes on its last allowed delivery ends in the DLQ, bodies too
large for the broker travel by claim check, and SQS FIFO queues deduplicate."""

from __future__ import annotations

import asyncio

import pytest

from harness.transport import Delivery, Transport
from harness.transport.pulling import PullSubscription
from tests.transport.conftest import BrokerUnderTest, eventually, url_for

pytestmark = pytest.mark.timeout(60)

PULL = ["redis", "nats", "sqs"]


@pytest.fixture(params=PULL)
async def pull(request):
    b = BrokerUnderTest(request.param, url_for(request.param, request))
    yield b
    await b.cleanup()


async def crash(sub: PullSubscription) -> None:
    """Kill a subscription the way a killed process does: nothing is given back."""
    sub.cancelled = True
    for task in [sub._loop_task, sub._beat_task, *sub.tasks]:
        if task is not None:
            task.cancel()
    await asyncio.gather(*[t for t in [sub._loop_task, sub._beat_task, *sub.tasks] if t],
                         return_exceptions=True)
    sub.unsettled.clear()


async def _hold(t: Transport, q: str) -> tuple[PullSubscription, list[Delivery]]:
    held: list[Delivery] = []

    async def hold(d: Delivery) -> None:
        held.append(d)
        await asyncio.sleep(60)

    sub = await t.consume(q, hold)
    await eventually(lambda: len(held) == 1, timeout=10, what="a first delivery")
    assert isinstance(sub, PullSubscription)
    return sub, held


async def test_a_crashed_consumer_is_redelivered_after_the_idle_time(pull):
    t = await pull.open()
    q = pull.q("crashed")
    await t.declare(q, delivery_limit=3)
    await t.publish(q, b"work", headers={"x-correlation-id": "c-crash"})
    sub, _held = await _hold(t, q)
    await crash(sub)
    other = await pull.open()
    got: list[Delivery] = []

    async def ack(d: Delivery) -> None:
        got.append(d)
        await d.ack()

    sub2 = await other.consume(q, ack)
    await eventually(lambda: len(got) == 1, timeout=20, what="redelivery after the idle time")
    await sub2.cancel()
    assert got[0].body == b"work" and got[0].delivery_count == 2 and got[0].redelivered


async def test_a_consumer_crashing_on_its_last_delivery_ends_in_the_dlq(pull):
    t = await pull.open()
    q = pull.q("lastcrash")
    await t.declare(q, delivery_limit=0)
    await t.publish(q, b"poison", headers={"x-correlation-id": "c-last"})
    sub, _held = await _hold(t, q)
    await crash(sub)
    other = await pull.open()
    got: list[Delivery] = []

    async def ack(d: Delivery) -> None:
        got.append(d)
        await d.ack()

    sub2 = await other.consume(q, ack)  # its fetches let the broker notice the limit
    dead: list = []
    for _ in range(200):
        dead += await other.dead_letters(q)
        if dead:
            break
        await asyncio.sleep(0.1)
    await sub2.cancel()
    assert got == []
    assert len(dead) == 1
    assert dead[0].reason == "delivery_limit" and dead[0].body == b"poison"
    assert dead[0].correlation_id == "c-last"


async def test_a_body_over_the_broker_limit_round_trips_and_dead_letters_intact(pull):
    t = await pull.open()
    q = pull.q("large")
    await t.declare(q)
    body = b"{" + b"x" * 1_300_000 + b"\xff}"
    await t.publish(q, body, headers={"x-correlation-id": "c-big"})
    seen: list[bytes] = []

    async def handle(d: Delivery) -> None:
        seen.append(d.body)
        await d.dead_letter("too_large", "envelope over 1000000 bytes")

    sub = await t.consume(q, handle)
    dead: list = []
    for _ in range(200):
        dead += await t.dead_letters(q)
        if dead:
            break
        await asyncio.sleep(0.05)
    await sub.cancel()
    assert seen == [body]
    assert dead[0].body == body and dead[0].reason == "too_large"


async def test_sqs_fifo_keeps_order_and_drops_an_identical_republish(request):
    b = BrokerUnderTest("sqs", url_for("sqs", request) + "&fifo=1")
    try:
        t = await b.open()
        q = b.q("ordered")
        await t.declare(q, delivery_limit=2)
        for i in range(5):
            await t.publish(q, str(i).encode(), headers={"x-correlation-id": "c-1"})
        await t.publish(q, b"4", headers={"x-correlation-id": "c-1"})  # same bytes: deduped
        got: list[bytes] = []

        async def handle(d: Delivery) -> None:
            got.append(d.body)
            await d.ack()

        sub = await t.consume(q, handle, prefetch=1)
        await eventually(lambda: len(got) == 5, timeout=20, what="five deliveries")
        await asyncio.sleep(0.5)
        await sub.cancel()
        assert got == [b"0", b"1", b"2", b"3", b"4"]
    finally:
        await b.cleanup()
