"""Broker adapters behind one interface; :func:`open_transport` picks one from a URL."""

from __future__ import annotations

from harness.errors import InputError
from harness.transport.base import DeadLetter, Delivery, Subscription, Transport, dlq_name
from harness.transport.memory import MemoryBroker, MemoryTransport

__all__ = [
    "DeadLetter",
    "Delivery",
    "MemoryBroker",
    "MemoryTransport",
    "Subscription",
    "Transport",
    "dlq_name",
    "open_transport",
]


def open_transport(url: str, *, prefix: str = "") -> Transport:
    """A transport for ``url``: ``memory`` or ``amqp://user:pass@host:port/vhost``.

    Args:
        url: the broker URL.
        prefix: queue-name prefix (isolates runs that share a real broker).

    Raises:
        InputError: the URL's scheme is not supported.
    """
    if url in ("memory", "memory://", "mem"):
        return MemoryTransport()
    if url.startswith(("amqp://", "amqps://")):
        from harness.transport.amqp import AmqpTransport

        return AmqpTransport(url, prefix=prefix)
    raise InputError(f"unsupported broker URL {url!r} (use memory or amqp://...)", where="--broker")
