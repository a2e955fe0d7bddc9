"""The RabbitMQ transport (aio-pika): quorum queues, publisher confirms, dead-letter queues.

Every queue ``q`` is a durable quorum queue whose dead-letter target is ``q.dlq`` (through the
default exchange), so the broker dead-letters on its own with its ``x-death`` headers when a
message is rejected or exceeds ``x-delivery-limit``. ``Delivery.dead_letter`` publishes the
original bytes to ``q.dlq`` itself (confirmed) with ``x-harness-reason``/``x-harness-detail``/
``x-harness-queue`` headers and then acks, so a machine-readable reason survives.

One connection per transport: one confirming channel for publishing and one channel per
subscription (prefetch = ``basic.qos``). Cancelling a subscription closes its channel, so the
broker returns every unsettled delivery to its queue (a crash looks the same to the broker).

Delivery counts: RabbitMQ 3.10 quorum queues put ``x-delivery-count`` (the number of earlier
returns: nack with requeue, reject, channel or connection closed) on every redelivery;
``delivery_count`` is that plus one. A message is delivered at most ``x-delivery-limit`` + 1
times; the next return dead-letters it with reason ``delivery_limit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aiormq.abc import DeliveredMessage

from harness.errors import ServiceUnavailable, TransportError
from harness.redact import redact_url
from harness.transport.base import DeadLetter, Delivery, Handler, Subscription, Transport, dlq_name

__all__ = ["AmqpTransport"]

log = logging.getLogger(__name__)

_CLIENT_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException,
                  ConnectionError, OSError)


def _text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _headers_out(headers: dict[str, Any] | None) -> dict[str, Any]:
    if not headers:
        return {}
    if None not in headers.values():  # the runtime's two headers: no copy per publish
        return headers
    return {k: v for k, v in headers.items() if v is not None}


def _headers_in(message: AbstractIncomingMessage | DeliveredMessage) -> dict[str, Any]:
    if isinstance(message, DeliveredMessage):
        return dict(message.header.properties.headers or {})
    return dict(message.headers or {})


class _AmqpDelivery(Delivery):
    """A delivery read straight from aiormq (no aio-pika message object and task per message:
    the hot path); settled with ``basic.ack`` / ``basic.nack`` / ``basic.reject`` on its
    channel."""

    def __init__(self, transport: AmqpTransport, queue: str, message: DeliveredMessage) -> None:
        self._transport = transport
        self._channel = message.channel
        self._tag = int(message.delivery_tag or 0)
        self.body = message.body
        self.headers = _headers_in(message)
        self.queue = queue
        count = self.headers.get("x-delivery-count")
        self.delivery_count = (int(count) if isinstance(count, int) else 0) + 1
        self.redelivered = bool(message.redelivered) or self.delivery_count > 1

    async def _send(self, what: str, op: Any) -> None:
        try:
            await op
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"{what} on {self.queue!r} failed: {exc!r}") from exc

    async def ack(self) -> None:
        self._settle()
        try:  # inline, not through _send: every delivery's ack (the hot path)
            # wait=False: an ack has no reply; awaiting its drain only delayed the handler (an
            # ack lost with the connection is a redelivery, drained or not)
            await self._channel.basic_ack(self._tag, wait=False)
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"ack on {self.queue!r} failed: {exc!r}") from exc

    async def nack(self, *, requeue: bool = True) -> None:
        self._settle()
        if requeue:
            await self._send("nack", self._channel.basic_nack(self._tag, requeue=True))
        else:
            await self._send("nack", self._channel.basic_reject(self._tag, requeue=False))

    async def dead_letter(self, reason: str, detail: str = "",
                          *, correlation_id: str | None = None) -> None:
        self._settle()
        headers = {k: v for k, v in self.headers.items()
                   if k not in ("x-delivery-count", "x-death")}
        headers.update({"x-harness-reason": reason, "x-harness-detail": detail[:4000],
                        "x-harness-queue": self.queue})
        cid = correlation_id or _text(self.headers.get("x-correlation-id"))
        if cid:
            headers["x-correlation-id"] = cid
        await self._transport.publish(dlq_name(self.queue), self.body, headers=headers)
        await self._send("ack after dead-letter", self._channel.basic_ack(self._tag))


class _AmqpSubscription(Subscription):
    def __init__(self, transport: AmqpTransport, queue: str, handler: Handler,
                 channel: AbstractChannel) -> None:
        self.transport = transport
        self.queue_name = queue
        self.handler = handler
        self.channel = channel
        self.tag: str | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.cancelled = False
        self._started = asyncio.Event()

    async def start(self) -> None:
        raw = await self.channel.get_underlay_channel()  # aiormq's: one task per delivery
        await raw.queue_declare(self.queue_name, passive=True)
        ok = await raw.basic_consume(self.queue_name, self._on_message, no_ack=False)
        self.tag = ok.consumer_tag
        self._started.set()

    async def _on_message(self, message: DeliveredMessage) -> None:
        if not self._started.is_set():  # a delivery can beat consume-ok: no handler before
            await self._started.wait()  # consume() has returned
        if self.cancelled:
            return  # the channel closes soon and the broker returns it
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        delivery = _AmqpDelivery(self.transport, self.queue_name, message)
        try:
            await self.handler(delivery)
        except asyncio.CancelledError:
            pass
        except Exception:
            if not delivery.settled and not self.cancelled:
                delivery._settled = True
                with contextlib.suppress(*_CLIENT_ERRORS):
                    await delivery._channel.basic_nack(delivery._tag, requeue=True)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        current = asyncio.current_task()
        if self.tag is not None and not self.channel.is_closed:
            with contextlib.suppress(*_CLIENT_ERRORS, asyncio.CancelledError, RuntimeError):
                raw = await self.channel.get_underlay_channel()
                await raw.basic_cancel(self.tag)
        tasks = [t for t in self.tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # closing the channel returns every unsettled delivery to the queue
        with contextlib.suppress(*_CLIENT_ERRORS, RuntimeError):
            await self.channel.close()
        with contextlib.suppress(ValueError):
            self.transport._subs.remove(self)


class AmqpTransport(Transport):
    """RabbitMQ through aio-pika.

    Args:
        url: ``amqp://user:pass@host:port/vhost``.
        prefix: queue-name prefix of the run (queue names passed in already carry it).
        confirm_timeout: seconds to wait for a publisher confirm.
    """

    name = "amqp"

    def __init__(self, url: str, *, prefix: str = "", confirm_timeout: float = 30.0) -> None:
        self.url = url
        self.prefix = prefix
        self.confirm_timeout = confirm_timeout
        self._conn: AbstractConnection | None = None
        self._pub: AbstractChannel | None = None
        self._raw_pub: aiormq.Channel | None = None  # _pub's aiormq channel
        self._id_prefix = f"{uuid.uuid4().hex[:16]}-"
        self._ids = itertools.count()
        self._admin: AbstractChannel | None = None
        self._subs: list[_AmqpSubscription] = []
        self._declared: dict[str, int | None] = {}
        self._lock = asyncio.Lock()

    # -- connections ---------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._conn is not None and not self._conn.is_closed:
            return
        try:
            self._conn = await aio_pika.connect(self.url, timeout=10)
            self._pub = await self._conn.channel(publisher_confirms=True)
        except _CLIENT_ERRORS as exc:
            raise ServiceUnavailable(f"cannot connect to RabbitMQ at {redact_url(self.url)}: "
                                     f"{exc!r}") from exc

    @property
    def connected(self) -> bool:
        """True while the connection is open (false after a broker or network failure)."""
        return self._conn is not None and not self._conn.is_closed

    def _connection(self) -> AbstractConnection:
        if self._conn is None or self._conn.is_closed:
            raise TransportError(f"AmqpTransport({redact_url(self.url)}) is not connected "
                                 "(use `async with` or connect())")
        return self._conn

    async def _admin_channel(self) -> AbstractChannel:
        """A channel for declarations and queries (reopened after a channel error)."""
        if self._admin is None or self._admin.is_closed:
            self._admin = await self._connection().channel(publisher_confirms=False)
        return self._admin

    async def _publish_channel(self) -> AbstractChannel:
        if self._pub is None or self._pub.is_closed:
            self._pub = await self._connection().channel(publisher_confirms=True)
        return self._pub

    # -- the interface -------------------------------------------------------------------------
    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        args: dict[str, Any] = {"x-queue-type": "quorum", "x-dead-letter-exchange": "",
                                "x-dead-letter-routing-key": dlq_name(queue)}
        if delivery_limit is not None:
            args["x-delivery-limit"] = int(delivery_limit)
        try:
            async with self._lock:
                ch = await self._admin_channel()
                await ch.declare_queue(dlq_name(queue), durable=True,
                                       arguments={"x-queue-type": "quorum"})
                await ch.declare_queue(queue, durable=True, arguments=args)
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"declare {queue!r} failed: {exc!r}") from exc
        self._declared[queue] = delivery_limit

    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        # straight to aiormq: no aio-pika Message object per publish (the hot path); a
        # message id from a counter (unique per transport: aiormq maps returns by it) rather
        # than the random UUID aiormq draws for each publish without one
        properties = aiormq.spec.Basic.Properties(
            headers=_headers_out(headers), delivery_mode=2,  # persistent
            message_id=f"{self._id_prefix}{next(self._ids):x}")
        try:
            ch = self._raw_pub
            if ch is None or ch.is_closed:  # looked up once per channel, not per publish
                ch = self._raw_pub = cast(aiormq.Channel, await (
                    await self._publish_channel()).get_underlay_channel())
            # wait=False: the frame is queued, not awaited onto the socket under the channel
            # lock; the broker's confirm, awaited within ``timeout`` (aiormq 7.2's own
            # asyncio.timeout: no second timer per publish), is what publish waits for
            confirm = await ch.basic_publish(bytes(body), exchange="", routing_key=queue,
                                             properties=properties, mandatory=True,
                                             timeout=self.confirm_timeout, wait=False)
        except aio_pika.exceptions.DeliveryError as exc:
            raise TransportError(f"publish to {queue!r} not confirmed (no such queue?): "
                                 f"{exc!r}") from exc
        except (*_CLIENT_ERRORS, TimeoutError) as exc:
            raise TransportError(f"publish to {queue!r} failed: {exc!r}") from exc
        if isinstance(confirm, aiormq.spec.Basic.Ack):
            return
        frame = getattr(confirm, "delivery", None)
        if isinstance(frame, aiormq.spec.Basic.Return):
            raise TransportError(f"publish to {queue!r} not confirmed: returned by the broker "
                                 f"({frame.reply_code} {frame.reply_text}: no such queue?)")
        raise TransportError(f"publish to {queue!r} not confirmed: {confirm!r}")

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        try:
            channel = await self._connection().channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=max(1, prefetch))
            sub = _AmqpSubscription(self, queue, handler, channel)
            await sub.start()
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"consume from {queue!r} failed: {exc!r}") from exc
        self._subs.append(sub)
        return sub

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        try:
            async with self._lock:
                ch = await self._admin_channel()
                dq = await ch.get_queue(dlq_name(queue), ensure=False)
                while True:
                    message = await dq.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    out.append(_dead_letter_of(message, queue))
                    await message.ack()
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"reading {dlq_name(queue)!r} failed: {exc!r}") from exc
        return out

    async def depth(self, queue: str) -> int:
        try:
            async with self._lock:
                ch = await self._admin_channel()
                q = await ch.declare_queue(queue, passive=True)
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"depth of {queue!r} failed: {exc!r}") from exc
        return int(q.declaration_result.message_count or 0)

    async def purge(self, queue: str) -> None:
        try:
            async with self._lock:
                ch = await self._admin_channel()
                for name in (queue, dlq_name(queue)):
                    q = await ch.get_queue(name, ensure=False)
                    await q.purge()
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"purge {queue!r} failed: {exc!r}") from exc

    async def delete(self, queue: str) -> None:
        """Delete ``queue`` and its dead-letter queue (missing ones are ignored)."""
        try:
            async with self._lock:
                for name in (queue, dlq_name(queue)):
                    ch = await self._admin_channel()
                    try:
                        await ch.queue_delete(name)
                    except aiormq.exceptions.ChannelNotFoundEntity:
                        self._admin = None
        except _CLIENT_ERRORS as exc:
            raise TransportError(f"delete {queue!r} failed: {exc!r}") from exc
        self._declared.pop(queue, None)

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.cancel()
        conn, self._conn = self._conn, None
        self._pub = self._admin = self._raw_pub = None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(*_CLIENT_ERRORS, RuntimeError):
                await conn.close()


def _dead_letter_of(message: AbstractIncomingMessage, queue: str) -> DeadLetter:
    """A DeadLetter from a DLQ message: the harness's headers, else the broker's x-death."""
    headers = _headers_in(message)
    cid = _text(headers.get("x-correlation-id")) or _text(message.correlation_id) or None
    reason = _text(headers.get("x-harness-reason"))
    if reason:
        return DeadLetter(message.body, str(reason), str(_text(headers.get("x-harness-detail"))
                                                         or ""),
                          str(_text(headers.get("x-harness-queue")) or queue), cid, headers)
    deaths = headers.get("x-death") or []
    death = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    reason = str(_text(death.get("reason")) or _text(headers.get("x-first-death-reason"))
                 or "unknown")
    source = str(_text(death.get("queue")) or queue)
    count = death.get("count")
    detail = f"dead-lettered by the broker from {source} (x-death reason {reason}"
    detail += f", count {count})" if count is not None else ")"
    return DeadLetter(message.body, reason, detail, source, cid, headers)
