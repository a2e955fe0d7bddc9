"""The transport interface: one small async base class every broker adapter implements.

Usage::

    async with open_transport("memory") as t:
        await t.declare("orders", delivery_limit=5)
        await t.publish("orders", b"...", headers={"x-correlation-id": "c1"})

        async def handle(d: Delivery) -> None:
            ...                     # do the work, then exactly one of:
            await d.ack()           # done
            await d.nack()          # put it back (redelivered, delivery_count + 1)
            await d.dead_letter("schema_invalid", "payload.amount: not a number")

        sub = await t.consume("orders", handle, prefetch=10)
        ...
        await sub.cancel()          # unacked deliveries go back to the queue

Semantics every transport keeps (checked by tests/transport/test_conformance.py):

- at-least-once: a delivery neither acked nor dead-lettered before its consumer goes away
  (cancel, crash, connection loss) is delivered again, with ``redelivered`` true;
- ``delivery_count`` starts at 1 and grows with every redelivery;
- ``declare(queue, delivery_limit=N)``: a message is delivered at most N + 1 times (RabbitMQ's
  quorum-queue ``x-delivery-limit``); the next return dead-letters it with reason
  ``delivery_limit``. Every return counts: ``nack``, a handler exception, and a consumer that
  goes away unsettled (RabbitMQ 3.10 counts all three; 4.3+ stops counting ``basic.nack``);
- every queue ``q`` has a dead-letter queue ``q.dlq``; dead letters keep the original bytes,
  the reason, a detail, the source queue and the correlation id (header ``x-correlation-id``);
- FIFO per queue for a single consumer with prefetch 1 and no redeliveries;
- ``publish`` returns only once the broker has the message durably (publisher confirms).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DLQ_SUFFIX",
    "DeadLetter",
    "Delivery",
    "Handler",
    "Subscription",
    "Transport",
    "dlq_name",
]

DLQ_SUFFIX = ".dlq"


def dlq_name(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return queue + DLQ_SUFFIX


@dataclass
class DeadLetter:
    """A message in a dead-letter queue.

    Attributes:
        body: the original bytes, unchanged.
        reason: machine-readable reason (``schema_invalid``, ``not_json``, ``delivery_limit``...).
        detail: human-readable detail naming the field or place.
        queue: the queue it was dead-lettered from.
        correlation_id: the correlation id, when the message had one.
        headers: all headers, including the broker's own (``x-death`` on RabbitMQ).
    """

    body: bytes
    reason: str
    detail: str
    queue: str
    correlation_id: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)


class Delivery(abc.ABC):
    """One delivery of a message to a consumer; settle it exactly once."""

    body: bytes
    headers: dict[str, Any]
    queue: str
    delivery_count: int
    redelivered: bool

    @property
    def settled(self) -> bool:
        """True once acked, nacked or dead-lettered."""
        return bool(getattr(self, "_settled", False))

    def _settle(self) -> None:
        if self.settled:
            raise RuntimeError(f"delivery on {self.queue!r} settled twice")
        self._settled = True

    @abc.abstractmethod
    async def ack(self) -> None:
        """Done with it: the broker forgets it."""

    @abc.abstractmethod
    async def nack(self, *, requeue: bool = True) -> None:
        """Return it for redelivery (``requeue=False`` dead-letters it as ``rejected``)."""

    @abc.abstractmethod
    async def dead_letter(self, reason: str, detail: str = "",
                          *, correlation_id: str | None = None) -> None:
        """Move it, bytes intact, to the dead-letter queue with a reason; durable on return."""


Handler = Callable[[Delivery], Awaitable[None]]


class Subscription(abc.ABC):
    """A running consumer."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Stop consuming; deliveries not yet settled go back to the queue."""


class Transport(abc.ABC):
    """A broker adapter. Use as ``async with``; see the module docstring for semantics."""

    #: URL scheme or name (``memory``, ``amqp``).
    name: str = "transport"

    async def __aenter__(self) -> Transport:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Open connections (a no-op for the memory transport)."""

    @abc.abstractmethod
    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        """Create ``queue`` and its dead-letter queue if they do not exist."""
        raise NotImplementedError("Transport.declare")

    @abc.abstractmethod
    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        """Publish durably; return once the broker has confirmed it."""
        raise NotImplementedError("Transport.publish")

    @abc.abstractmethod
    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        """Call ``handler`` for each delivery, at most ``prefetch`` unsettled at a time."""
        raise NotImplementedError("Transport.consume")

    @abc.abstractmethod
    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """Drain and return what is in ``queue``'s dead-letter queue."""
        raise NotImplementedError("Transport.dead_letters")

    @abc.abstractmethod
    async def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (not counting unacked ones)."""
        raise NotImplementedError("Transport.depth")

    async def purge(self, queue: str) -> None:  # noqa: B027 - optional
        """Remove every ready message from ``queue`` and its dead-letter queue."""

    async def delete(self, queue: str) -> None:  # noqa: B027 - optional
        """Delete ``queue`` and its dead-letter queue (a run cleaning up a shared broker)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close connections; unsettled deliveries are returned to their queues."""
        raise NotImplementedError("Transport.close")
