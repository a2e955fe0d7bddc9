"""Transports under test: memory, RabbitMQ, Redis Streams, NATS JetStream and SQS (moto's
server, started once per session on a free loopback port): real brokers, never mocked.

``broker`` yields a :class:`BrokerUnderTest` that opens connected transports onto one broker
and names queues uniquely per test; every queue it named is deleted at teardown.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

import pytest

from harness.testing import require_service, required
from harness.transport import MemoryBroker, MemoryTransport, Transport, open_transport

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("HARNESS_REDIS_URL", "redis://127.0.0.1:6379/0?claim_idle=1")
NATS_URL = os.environ.get("HARNESS_NATS_URL", "nats://127.0.0.1:4222?ack_wait=2")
KINDS = ["memory", "amqp", "redis", "nats", "sqs"]
SERVICE = {"amqp": "rabbitmq", "redis": "redis", "nats": "nats"}


class BrokerUnderTest:
    def __init__(self, kind: str, url: str | None = None) -> None:
        self.kind = kind
        self.url = url or {"memory": "memory", "amqp": AMQP_URL, "redis": REDIS_URL,
                           "nats": NATS_URL}[kind]
        self.memory = MemoryBroker()
        self.transports: list[Transport] = []
        self.queues: list[str] = []
        self.tag = f"t{uuid.uuid4().hex[:10]}."

    def q(self, name: str) -> str:
        """A queue name unique to this test."""
        full = self.tag + name
        self.queues.append(full)
        return full

    async def open(self) -> Transport:
        """A new connected transport onto the same broker."""
        t: Transport = (MemoryTransport(self.memory) if self.kind == "memory"
                        else open_transport(self.url))
        await t.connect()
        self.transports.append(t)
        return t

    async def cleanup(self) -> None:
        for t in self.transports:
            await t.close()
        if self.kind != "memory" and self.queues:
            async with open_transport(self.url) as admin:
                for name in self.queues:
                    await admin.delete(name)


@pytest.fixture(scope="session")
def sqs_endpoint():
    """moto's SQS server on a free loopback port for the session (or AWS_ENDPOINT_URL_SQS)."""
    from harness.transport.moto_server import MotoServer

    if os.environ.get("AWS_ENDPOINT_URL_SQS"):
        yield os.environ["AWS_ENDPOINT_URL_SQS"]
        return
    try:
        server = MotoServer.start()
    except RuntimeError as exc:
        if required():
            pytest.fail(f"moto server (SQS) could not start: {exc}")
        pytest.skip(f"moto server (SQS) could not start: {exc}")
    yield server.endpoint
    server.stop()


def url_for(kind: str, request) -> str:
    """The broker URL of ``kind`` (requires its service; starts moto for sqs)."""
    if kind in SERVICE:
        require_service(SERVICE[kind])
    if kind == "sqs":
        return f"sqs://us-east-1?endpoint={request.getfixturevalue('sqs_endpoint')}&visibility=2"
    return {"memory": "memory", "amqp": AMQP_URL, "redis": REDIS_URL, "nats": NATS_URL}[kind]


@pytest.fixture(params=KINDS)
async def broker(request):
    b = BrokerUnderTest(request.param, url_for(request.param, request))
    yield b
    await b.cleanup()


@pytest.fixture
async def transport(broker) -> Transport:
    return await broker.open()


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait until ``cond()`` is true (polling), failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)
