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
    "latency_scale",
    "open_transport",
]

#: what a hop costs on each broker relative to RabbitMQ (docs/transports.md, "Latency"):
#: SQS is three or more HTTP requests per hop (receive, send, delete; moto answers each in tens
#: of milliseconds on a loaded machine); redis-py pays a pooled request/response per command.
LATENCY_SCALE = {"amqp": 1.0, "amqps": 1.0, "nats": 1.0, "tls": 1.0, "redis": 1.5,
                 "rediss": 1.5, "sqs": 4.0}


def latency_scale(url: str) -> float:
    """The broker's hop cost relative to RabbitMQ (1.0 for memory and unknown schemes)."""
    return LATENCY_SCALE.get(url.split("://", 1)[0].lower(), 1.0) if "://" in url else 1.0


def open_transport(url: str, *, prefix: str = "") -> Transport:
    """A transport for ``url``.

    ``memory``, ``amqp://user:pass@host:port/vhost`` (RabbitMQ), ``redis://host:port/db``
    (Redis Streams), ``nats://host:port`` (NATS JetStream) or ``sqs://region`` (SQS; endpoint
    from ``?endpoint=`` or ``AWS_ENDPOINT_URL_SQS``). See docs/transports.md.

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
    if url.startswith(("redis://", "rediss://")):
        from harness.transport.redis import RedisTransport

        return RedisTransport(url, prefix=prefix)
    if url.startswith(("nats://", "tls://")):
        from harness.transport.nats import NatsTransport

        return NatsTransport(url, prefix=prefix)
    if url.startswith("sqs://"):
        from harness.transport.sqs import SqsTransport

        return SqsTransport(url, prefix=prefix)
    raise InputError(f"unsupported broker URL {url!r} (use memory, amqp://..., redis://..., "
                     "nats://... or sqs://...)", where="--broker")
