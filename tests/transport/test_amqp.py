"""RabbitMQ-specific behaviour of AmqpTransport: the broker's own x-death headers, the
harness's reason headers, quorum queue arguments, and client errors mapped to the error tree."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

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


class _MutableRelay:
    """A TCP relay to RabbitMQ (bound to port 0) whose broker-to-client direction can be cut:
    with ``mute`` set, the broker's frames (confirms included) are read and dropped."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.mute = False
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.upstream)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, down: bool) -> None:
            while data := await src.read(65536):
                if not (down and self.mute):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for task in (pipe(reader, up_w, False), pipe(up_r, writer, True)):
            t = asyncio.create_task(task)
            self.tasks.add(t)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()


async def test_a_publish_whose_confirm_never_comes_fails_after_confirm_timeout(rabbit):
    from harness.transport.amqp import AmqpTransport

    relay = _MutableRelay(AMQP_URL)  # the broker the other tests use (HARNESS_AMQP_URL)
    port = await relay.start()
    broker = urlsplit(AMQP_URL)
    login, at, _ = broker.netloc.rpartition("@")  # the same user, through the relay
    t = AmqpTransport(urlunsplit(broker._replace(netloc=f"{login}{at}127.0.0.1:{port}")),
                      confirm_timeout=0.5)
    try:
        await t.connect()
        q = rabbit.q("unconfirmed")
        await t.declare(q)
        await t.publish(q, b"confirmed")  # the broker's confirm comes through
        relay.mute = True  # from now on the broker's frames never reach the client
        started = asyncio.get_running_loop().time()
        with pytest.raises(TransportError, match=f"publish to '{q}' failed: TimeoutError"):
            await t.publish(q, b"never confirmed")
        waited = asyncio.get_running_loop().time() - started
        assert 0.4 <= waited < 10, waited  # the confirm timeout, not the test's own timeout
    finally:
        await relay.close()
        await t.close()
