"""RabbitMQ-specific behaviour of AmqpTransport: the broker's own x-death headers, the
harness's reason headers, quorum queue arguments, and client errors mapped to the error tree."""

from __future__ import annotations

import asyncio

import pytest

from harness.errors import ServiceUnavailable, TransportError
from harness.testing import require_service
from harness.transport import Delivery, open_transport
from tests.transport.conftest import AMQP_URL, BrokerUnderTest

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def rabbit():
    require_service("rabbitmq")
    b = BrokerUnderTest("amqp")
    yield b
    await b.cleanup()


async def test_open_transport_builds_an_amqp_transport_with_prefix():
    from harness.transport.amqp import AmqpTransport

    t = open_transport(AMQP_URL, prefix="hx.")
    assert isinstance(t, AmqpTransport) and t.prefix == "hx."


async def test_unreachable_broker_is_service_unavailable():
    from harness.transport.amqp import AmqpTransport

    t = AmqpTransport("amqp://guest:guest@127.0.0.1:1/")
    with pytest.raises(ServiceUnavailable, match=r"guest:\*\*\*@127.0.0.1:1"):
        await t.connect()


async def test_publish_to_a_missing_queue_is_a_transport_error(rabbit):
    t = await rabbit.open()
    with pytest.raises(TransportError, match="NO_ROUTE"):
        await t.publish(rabbit.q("missing"), b"x")


async def test_conflicting_declare_is_a_transport_error_and_the_transport_recovers(rabbit):
    t = await rabbit.open()
    q = rabbit.q("conflict")
    await t.declare(q, delivery_limit=3)
    with pytest.raises(TransportError):
        await t.declare(q, delivery_limit=4)  # PRECONDITION_FAILED on the admin channel
    assert await t.depth(q) == 0  # a fresh admin channel


async def test_broker_dead_letters_carry_x_death_and_harness_ones_carry_reason_headers(rabbit):
    t = await rabbit.open()
    q = rabbit.q("headers")
    await t.declare(q, delivery_limit=1)
    await t.publish(q, b"limit", headers={"x-correlation-id": "c-limit"})
    await t.publish(q, b"mine", headers={"x-correlation-id": "c-mine"})

    async def handle(d: Delivery) -> None:
        if d.body == b"mine":
            await d.dead_letter("schema_invalid", "payload.amount")
        else:
            await d.nack()

    sub = await t.consume(q, handle)
    found = []
    for _ in range(250):
        found += await t.dead_letters(q)
        if len(found) == 2:
            break
        await asyncio.sleep(0.02)
    await sub.cancel()
    by_body = {dl.body: dl for dl in found}
    limit, mine = by_body[b"limit"], by_body[b"mine"]
    death = limit.headers["x-death"][0]
    assert death["reason"] == "delivery_limit" and death["queue"] == q
    assert limit.reason == "delivery_limit" and "delivery_limit" in limit.detail
    assert mine.headers["x-harness-reason"] == "schema_invalid"
    assert mine.headers["x-harness-queue"] == q
    assert "x-death" not in mine.headers
