"""The NATS JetStream transport (nats-py): a stream per pipeline run, a durable pull consumer
per agent queue, explicit acks.

Layout (``q`` = the queue name; the run prefix ``h1a2b3c4.`` is its first token ``T``):

- stream ``H_T`` (file storage, work-queue retention) holds subjects ``hq.T`` and ``hq.T.>``,
  so one stream carries a whole run (every agent queue and its dead-letter queue);
- queue ``q`` is subject ``hq.q`` consumed by the durable pull consumer ``q`` (dots as ``_``)
  with ``AckPolicy.EXPLICIT``, ``ack_wait`` and ``max_deliver = delivery_limit + 1``;
- the dead-letter queue is subject ``hq.q.dlq`` in the same stream (read with ``get_msg``);
- a body too large for the server's ``max_payload`` (1 MiB by default) goes to the object store
  bucket ``H_T_large`` and the message carries its name in ``x-harness-body-ref`` (a claim
  check, like SQS's extended client); the handler sees the original bytes.

Semantics (the shared part is pulling.py): ``delivery_count`` is the message metadata's
``num_delivered``; ``nack`` is ``nak()`` (immediate redelivery); an unsettled delivery is kept
with ``in_progress()`` every ``ack_wait / 3`` and redelivered ``ack_wait`` after its consumer
died. JetStream has no dead-letter queue, so the harness builds it two ways:

- a return at the limit, a reject and ``dead_letter`` republish the bytes to ``hq.q.dlq``
  (waiting for the stream's PubAck) and then ``term()`` the original: the client sees these;
- a consumer that dies holding the last allowed delivery returns nothing, so every
  subscription also listens for ``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<q>``
  and moves the message named by the advisory (``get_msg`` + republish + ``delete_msg``); the
  republish carries ``Nats-Msg-Id: dlq-<stream>-<seq>`` so several listeners dead-letter once.

URL: ``nats://[user:pass@]host:port[?ack_wait=3]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from harness.errors import ServiceUnavailable, TransportError
from harness.redact import redact_url
from harness.transport.base import DeadLetter, Handler, Subscription, dlq_name
from harness.transport.pulling import (
    CID,
    DETAIL,
    REASON,
    SOURCE,
    PullDelivery,
    PullSubscription,
    PullTransport,
    number,
    query_of,
    reason_headers,
)

__all__ = ["NatsTransport"]

log = logging.getLogger(__name__)

_ROOT = "hq"
_REF = "x-harness-body-ref"
_HEADROOM = 8192  # bytes of max_payload left for headers
_PUBLISH_TIMEOUT = 10.0  # seconds a publish waits for its PubAck (as the JetStream calls)
_EXPIRY_SWEEP = 0.5  # seconds between looks for overdue PubAcks
_ERRORS = (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError)
_BAD = re.compile(r"[^A-Za-z0-9_-]")


def stream_of(queue: str) -> str:
    """The stream holding ``queue``: one per first name token (the run prefix)."""
    return "H_" + _BAD.sub("_", queue.split(".", 1)[0])


def subject_of(queue: str) -> str:
    """The subject of ``queue`` (validated: no wildcards, spaces or empty tokens)."""
    if not queue or any(c in queue for c in " *>\t\r\n") or "" in queue.split("."):
        raise TransportError(f"queue name {queue!r} is not a valid NATS subject")
    return f"{_ROOT}.{queue}"


def durable_of(queue: str) -> str:
    """The durable consumer name of ``queue``."""
    return _BAD.sub("_", queue)


def _headers_in(msg: Any) -> dict[str, Any]:
    return {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}


def _headers_out(headers: dict[str, Any] | None) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v, default=str)
            for k, v in (headers or {}).items() if v is not None}


class _NatsDelivery(PullDelivery):
    sub: _NatsSubscription

    def __init__(self, sub: _NatsSubscription, msg: Msg, body: bytes) -> None:
        headers = _headers_in(msg)
        self.ref = headers.pop(_REF, None)
        super().__init__(sub, body, headers, int(msg.metadata.num_delivered or 1))
        self.msg = msg

    async def _remove(self) -> None:
        await self.msg.ack()
        await self.sub.transport._drop_large(self.queue, self.ref)

    async def _release(self) -> None:
        await self.msg.nak()

    async def _touch(self) -> None:
        await self.msg.in_progress()

    async def _bury(self, headers: dict[str, Any]) -> None:
        seq = self.msg.metadata.sequence.stream
        await self.sub.transport._to_dlq(self.queue, seq, self.body, headers)
        await self.msg.term()
        await self.sub.transport._drop_large(self.queue, self.ref)


class _NatsSubscription(PullSubscription):
    def __init__(self, transport: NatsTransport, queue: str, handler: Handler, *,
                 prefetch: int, delivery_limit: int | None) -> None:
        super().__init__(queue, handler, prefetch=prefetch, delivery_limit=delivery_limit,
                         heartbeat=max(0.1, transport.ack_wait / 3))
        self.transport = transport
        self.psub: Any = None
        self.advisories: Any = None

    async def open(self) -> None:
        t, stream, durable = self.transport, stream_of(self.queue), durable_of(self.queue)
        nc = t._nc()
        self.inbox = nc.new_inbox()
        self.arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self.asked = 0  # messages asked for by the pull request still open
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.psub = await nc.subscribe(self.inbox, cb=self._arrive)
        self.advisories = await nc.subscribe(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}", cb=self._advisory)

    async def _arrive(self, msg: Msg) -> None:
        status = (msg.headers or {}).get("Status") if not msg.data else None
        if status:  # 404 no messages, 408 request expired, 409 limits: the request is over
            if status != "100":
                self.asked = 0
                self.arrived.put_nowait(msg)  # wakes fetch
            return
        self.asked = max(0, self.asked - 1)
        self.arrived.put_nowait(msg)

    async def fetch(self, n: int) -> list[PullDelivery]:
        """Ask for ``n`` with one open pull request (messages arrive as they are stored)."""
        t = self.transport
        if self.asked == 0 and self.arrived.empty():
            self.asked = n
            request = {"batch": n, "expires": int(t.poll * 1e9)}
            await t._nc().publish(self.next_subject, json.dumps(request).encode(),
                                  reply=self.inbox)
        try:
            async with asyncio.timeout(t.poll * 2):
                first = await self.arrived.get()
        except TimeoutError:
            self.asked = 0  # the request's end went missing (reconnect): ask again
            return []
        msgs = [first]
        while len(msgs) < n and not self.arrived.empty():
            msgs.append(self.arrived.get_nowait())
        out: list[PullDelivery] = []
        for m in msgs:
            if m.headers and m.headers.get("Status") and not m.data:
                continue
            out.append(_NatsDelivery(self, m, await t._body(self.queue, m)))
        return out

    async def _advisory(self, msg: Msg) -> None:
        """A consumer died on the last allowed delivery: move the message to the DLQ."""
        try:
            event = json.loads(msg.data)
            seq = int(event["stream_seq"])
            deliveries = int(event.get("deliveries", 0))
            await self.transport._move_from_stream(self.queue, seq, deliveries)
        except Exception as exc:  # a listener must not die; the next advisory retries nothing
            log.warning("dead-lettering from advisory on %s failed: %r", self.queue, exc)

    async def stopped(self) -> None:
        for sub in (self.psub, self.advisories):
            if sub is not None:
                with contextlib.suppress(*_ERRORS):
                    await sub.unsubscribe()
        while not self.arrived.empty():  # delivered to us but never handed to the handler
            msg = self.arrived.get_nowait()
            if msg.data or not (msg.headers or {}).get("Status"):
                with contextlib.suppress(*_ERRORS):
                    await msg.nak()


class NatsTransport(PullTransport):
    """NATS JetStream through nats-py.

    Args:
        url: ``nats://[user:pass@]host:port``; query ``ack_wait`` (seconds before an unacked
            delivery of a dead consumer is redelivered, default 3) and ``poll`` (seconds a
            fetch waits, default 0.25).
        prefix: the run's queue-name prefix (queue names passed in already carry it).
    """

    name = "nats"
    errors = _ERRORS

    def __init__(self, url: str, *, prefix: str = "") -> None:
        super().__init__()
        query = query_of(url)
        self.url = urlunsplit(urlsplit(url)._replace(query=""))
        self.prefix = prefix
        self.ack_wait = number(query, "ack_wait", 3.0, url)
        self.poll = number(query, "poll", 0.25, url)
        self.connect_timeout = number(query, "connect_timeout", 8, url)
        self._conn: NATS | None = None
        self._jsc: JetStreamContext | None = None
        self._streams: set[str] = set()
        #: PubAcks of publishes in flight by token; their replies' inbox prefix
        self._pubacks: dict[str, tuple[asyncio.Future[Msg], float]] = {}  # and deadline
        self._expiry: asyncio.Task[None] | None = None
        self._ack_inbox: str | None = None
        self._ack_seq = 0

    # -- connections ---------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._conn is not None and not self._conn.is_closed:
            return

        errors: list[Exception] = []

        async def quiet(exc: Exception) -> None:
            errors.append(exc)
            log.debug("nats %s: %r", redact_url(self.url), exc)

        where = redact_url(self.url)
        try:
            # nats-py keeps retrying a first connect that fails; bound it
            async with asyncio.timeout(self.connect_timeout):
                self._conn = await nats.connect(
                    self.url, connect_timeout=3, max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5, allow_reconnect=True, error_cb=quiet)
                self._jsc = self._conn.jetstream(timeout=10)
                await self._jsc.account_info()
                prefix = self._conn.new_inbox() + "."
                await self._conn.subscribe(prefix + "*", cb=self._puback)
                self._ack_inbox = prefix
        except TimeoutError as exc:
            await self._abandon()
            last = errors[-1] if errors else exc
            if "authoriz" in str(last).lower():
                raise ServiceUnavailable(f"NATS at {where} refused the credentials: "
                                         f"{last!r}") from exc
            raise ServiceUnavailable(f"cannot connect to NATS at {where} within "
                                     f"{self.connect_timeout:.0f} s: {last!r}") from exc
        except (nats.errors.NoServersError, ConnectionRefusedError, OSError) as exc:
            await self._abandon()
            raise ServiceUnavailable(f"cannot connect to NATS at {where}: {exc!r}") from exc
        except _ERRORS as exc:
            await self._abandon()
            what = ("refused the credentials" if "authoriz" in str(exc).lower()
                    else "has no JetStream" if isinstance(exc, nats.js.errors.Error)
                    else "failed")
            raise ServiceUnavailable(f"NATS at {where} {what}: {exc!r}") from exc

    async def _stop_expiry(self) -> None:
        task, self._expiry = self._expiry, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _abandon(self) -> None:
        await self._stop_expiry()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _nc(self) -> NATS:
        if self._conn is None or self._conn.is_closed:
            raise TransportError(f"NatsTransport({redact_url(self.url)}) is not connected "
                                 "(use `async with` or connect())")
        return self._conn

    def _js(self) -> JetStreamContext:
        self._nc()
        assert self._jsc is not None
        return self._jsc

    async def _ensure_stream(self, stream: str, queue: str) -> None:
        if stream in self._streams:
            return
        token = queue.split(".", 1)[0]
        config = StreamConfig(name=stream, subjects=[f"{_ROOT}.{token}", f"{_ROOT}.{token}.>"],
                              retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE)
        await self._call(f"declare stream {stream!r}", self._js().add_stream(config))
        self._streams.add(stream)

    async def _large(self, queue: str) -> Any:
        """The object store bucket for the bodies of ``queue``'s stream that are too large."""
        bucket = stream_of(queue) + "_large"
        try:
            return await self._js().object_store(bucket)
        except nats.js.errors.BucketNotFoundError:
            return await self._js().create_object_store(bucket)

    async def _send(self, what: str, queue: str, body: bytes, headers: dict[str, str]) -> None:
        """Publish to ``queue``'s subject and wait for the PubAck; big bodies by claim check."""
        if len(body) > self._nc().max_payload - _HEADROOM:
            ref = f"{uuid.uuid4().hex}"
            store = await self._call(f"{what} (large body store)", self._large(queue))
            await self._call(f"{what} (large body)", store.put(ref, body))
            headers, body = {**headers, _REF: ref}, b""
        await self._call(what, self._confirmed(subject_of(queue), body, headers or None))

    async def _confirmed(self, subject: str, body: bytes, headers: dict[str, str] | None) -> None:
        """Publish to JetStream and return once its PubAck says the stream stored it.

        What ``js.publish`` does, without its per-call inbox id, ``wait_for`` and PubAck object
        (a fifth of the adapter's CPU): replies come to one inbox subscription per connection,
        and one task fails the overdue ones (:meth:`_expire_pubacks`).

        Raises:
            TimeoutError: no PubAck within the JetStream timeout.
            nats.js.errors.Error: the stream refused it, or no stream takes the subject.
        """
        nc = self._nc()
        assert self._ack_inbox is not None  # subscribed on connect
        loop = asyncio.get_running_loop()
        if self._expiry is None or self._expiry.done():
            self._expiry = loop.create_task(self._expire_pubacks(), name="nats puback timeouts")
        self._ack_seq += 1
        token = str(self._ack_seq)
        future: asyncio.Future[Msg] = loop.create_future()
        self._pubacks[token] = (future, loop.time() + _PUBLISH_TIMEOUT)
        try:
            await nc.publish(subject, body, reply=self._ack_inbox + token, headers=headers)
            reply = await future
        finally:
            self._pubacks.pop(token, None)
        if not reply.data and (reply.headers or {}).get("Status") == "503":
            raise nats.js.errors.NoStreamResponseError
        if b'"error"' in reply.data:
            answer = json.loads(reply.data)
            if isinstance(answer, dict) and "error" in answer:
                raise nats.js.errors.APIError.from_error(answer["error"])

    async def _puback(self, msg: Msg) -> None:
        waiting = self._pubacks.get(msg.subject[len(self._ack_inbox or ""):])
        if waiting is not None and not waiting[0].done():
            waiting[0].set_result(msg)

    async def _expire_pubacks(self) -> None:
        """Fail the publishes whose PubAck is overdue: one timer for all of them instead of one
        per publish (the per-call timers were a twentieth of the adapter's CPU)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_EXPIRY_SWEEP)
            now = loop.time()
            overdue = []
            for future, deadline in self._pubacks.values():  # oldest first (token order)
                if deadline > now:
                    break
                overdue.append(future)
            for future in overdue:
                if not future.done():
                    future.set_exception(TimeoutError(
                        f"no PubAck from JetStream within {_PUBLISH_TIMEOUT:g} s"))

    async def _body(self, queue: str, msg: Any) -> bytes:
        ref = (msg.headers or {}).get(_REF)
        if not ref:
            return bytes(msg.data or b"")
        store = await self._call(f"large body of {queue!r}", self._large(queue))
        result = await self._call(f"large body {ref} of {queue!r}", store.get(ref))
        return bytes(result.data or b"")

    async def _drop_large(self, queue: str, ref: str | None) -> None:
        if ref:
            with contextlib.suppress(*_ERRORS):
                await (await self._large(queue)).delete(ref)

    async def _to_dlq(self, queue: str, seq: int, body: bytes, headers: dict[str, Any]) -> None:
        out = _headers_out(headers)
        out.pop(_REF, None)
        out["Nats-Msg-Id"] = f"dlq-{stream_of(queue)}-{seq}"
        await self._send(f"dead-letter to {dlq_name(queue)!r}", dlq_name(queue), body, out)

    async def _move_from_stream(self, queue: str, seq: int, deliveries: int) -> None:
        stream = stream_of(queue)
        try:
            raw = await self._js().get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            return  # another listener moved it already
        headers = reason_headers(_headers_in(raw), queue, "delivery_limit",
                                 f"delivered {deliveries} times (max_deliver) from {queue}; "
                                 "the last consumer never settled it", None)
        await self._to_dlq(queue, seq, await self._body(queue, raw), headers)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js().delete_msg(stream, seq)
        await self._drop_large(queue, (raw.headers or {}).get(_REF))

    # -- the interface -------------------------------------------------------------------------
    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        stream, subject = stream_of(queue), subject_of(queue)
        await self._ensure_stream(stream, queue)
        config = ConsumerConfig(
            durable_name=durable_of(queue), filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
            max_deliver=-1 if delivery_limit is None else int(delivery_limit) + 1,
            max_ack_pending=20000)
        await self._call(f"declare {queue!r}", self._js().add_consumer(stream, config))

    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        await self._send(f"publish to {queue!r}", queue, bytes(body), _headers_out(headers))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        info = await self._call(f"consume from {queue!r}",
                                self._js().consumer_info(stream_of(queue), durable_of(queue)))
        max_deliver = info.config.max_deliver or -1
        sub = _NatsSubscription(self, queue, handler, prefetch=prefetch,
                                delivery_limit=max_deliver - 1 if max_deliver > 0 else None)
        await self._call(f"consume from {queue!r}", sub.open())
        return self._running(sub)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        stream, subject = stream_of(queue), subject_of(dlq_name(queue))
        out: list[DeadLetter] = []
        while True:
            try:
                raw = await self._js().get_msg(stream, 1, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                return out
            except _ERRORS as exc:
                raise TransportError(f"reading {dlq_name(queue)!r} failed: {exc!r}") from exc
            headers = _headers_in(raw)
            ref = headers.pop(_REF, None)
            body = await self._body(queue, raw)
            out.append(DeadLetter(body, str(headers.get(REASON) or "unknown"),
                                  str(headers.get(DETAIL) or ""),
                                  str(headers.get(SOURCE) or queue), headers.get(CID), headers))
            await self._call(f"draining {dlq_name(queue)!r}",
                             self._js().delete_msg(stream, int(raw.seq or 0)))
            await self._drop_large(queue, ref)

    async def depth(self, queue: str) -> int:
        info = await self._call(f"depth of {queue!r}",
                                self._js().consumer_info(stream_of(queue), durable_of(queue)))
        return int(info.num_pending or 0)

    async def purge(self, queue: str) -> None:
        for name in (queue, dlq_name(queue)):
            await self._call(f"purge {name!r}",
                             self._js().purge_stream(stream_of(queue), subject=subject_of(name)))

    async def delete(self, queue: str) -> None:
        """Delete the consumer and the queue's messages; the stream once nothing is left."""
        js, stream = self._js(), stream_of(queue)
        try:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(stream, durable_of(queue))
            await self.purge(queue)
            info = await js.stream_info(stream)
            if not info.state.consumer_count and not info.state.messages:
                await js.delete_stream(stream)
                self._streams.discard(stream)
                with contextlib.suppress(*_ERRORS):
                    await js.delete_object_store(stream + "_large")
        except nats.js.errors.NotFoundError:
            self._streams.discard(stream)
        except _ERRORS as exc:
            raise TransportError(f"delete {queue!r} failed: {exc!r}") from exc

    async def close(self) -> None:
        await self._cancel_all()
        await self._stop_expiry()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                await conn.drain()

