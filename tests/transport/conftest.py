"""Transports under test: the memory transport and RabbitMQ (a real broker, never mocked).

``broker`` yields a :class:`BrokerUnderTest` that opens connected transports onto one broker
(one MemoryBroker, or the local RabbitMQ) and names queues uniquely per test; every queue it
named is deleted at teardown.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable

import pytest

from harness.testing import require_service
from harness.transport import MemoryBroker, MemoryTransport, Transport

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


class BrokerUnderTest:
    def __init__(self, kind: str) -> None:
        self.kind = kind
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
        if self.kind == "memory":
            t: Transport = MemoryTransport(self.memory)
        else:
            from harness.transport.amqp import AmqpTransport

            t = AmqpTransport(AMQP_URL)
        await t.connect()
        self.transports.append(t)
        return t

    async def cleanup(self) -> None:
        for t in self.transports:
            await t.close()
        if self.kind == "amqp" and self.queues:
            from harness.transport.amqp import AmqpTransport

            admin = AmqpTransport(AMQP_URL)
            async with admin:
                for name in self.queues:
                    await admin.delete(name)


@pytest.fixture(params=["memory", "amqp"])
async def broker(request):
    if request.param == "amqp":
        require_service("rabbitmq")
    b = BrokerUnderTest(request.param)
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
