"""The Redis Streams transport (redis-py asyncio): a stream per queue, one consumer group.

Layout on the server (``q`` = the queue name, run prefix included):

- stream ``q``: one entry per message, fields ``body`` (the bytes) and ``headers`` (JSON);
  consumer group ``harness``; every subscription is a consumer of that group;
- stream ``q.dlq``: dead letters, same fields, the reason in ``headers`` (``x-harness-reason``,
  ``x-harness-detail``, ``x-harness-queue``);
- hash ``q.meta``: the queue's ``delivery_limit``.

Semantics (see pulling.py for the shared part): new entries come from ``XREADGROUP >``; an ack
is ``XACK`` + ``XDEL`` in one Lua script (atomic); the acks and ``XADD`` publishes go through
one connection with one round trip in flight, and what handlers submit meanwhile shares the next
one (the acks of a queue as one script call; redis_wire.py); each caller still returns only once
Redis has done its own command; each subscription reads on a connection of its own (its
``XREADGROUP BLOCK`` waits there without holding up the writes); a return (nack, cancel,
close) re-claims the entry with ``IDLE`` set far in the past so the next ``XAUTOCLAIM`` by any
consumer takes it at once; a consumer that crashes stops its heartbeat (``XCLAIM JUSTID``, which
resets the idle time) and its entries are taken by ``XAUTOCLAIM`` after ``claim_idle`` seconds.
Delivery counts come from ``XPENDING`` (``times_delivered``), so they survive crashes and count
every claim. An entry claimed past its limit goes to ``q.dlq`` with reason ``delivery_limit``
(XADD + XACK + XDEL in one MULTI). Redis has no publisher confirms: ``XADD`` returns once the
primary has it in memory; durability depends on the server's AOF/RDB settings
(docs/transports.md).

URL: ``redis://[user:pass@]host:port/db[?claim_idle=3&block=0.2]``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions as rexc

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
)
from harness.transport.redis_wire import GroupWriter, Wire, pack

__all__ = ["RedisTransport"]

GROUP = "harness"
#: XACK + XDEL of one or more entries in one round trip, atomic (a MULTI pipeline costs redis-py
#: far more per ack); ARGV = group, ids...
_ACK = ("redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2)); "
        "return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))")
_FAR_PAST_MS = 10**10  # IDLE for a released entry: claimable by any XAUTOCLAIM at once


def _meta(queue: str) -> str:
    return queue + ".meta"


def _decode_headers(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _encode_headers(headers: dict[str, Any] | None) -> bytes:
    clean = {k: v for k, v in (headers or {}).items() if v is not None}
    return json.dumps(clean, default=str, separators=(",", ":")).encode()


class _RedisDelivery(PullDelivery):
    sub: _RedisSubscription

    def __init__(self, sub: _RedisSubscription, entry_id: bytes, fields: dict[bytes, bytes],
                 count: int) -> None:
        super().__init__(sub, bytes(fields.get(b"body", b"")),
                         _decode_headers(fields.get(b"headers")), count)
        self.entry_id = entry_id
        self.fields = fields

    async def _remove(self) -> None:
        await self.sub.transport._ack(self.queue, self.entry_id)

    async def _release(self) -> None:
        await self.sub.transport._redis().xclaim(
            self.queue, GROUP, self.sub.consumer, 0, [self.entry_id],
            idle=_FAR_PAST_MS, justid=True)
        self.sub.transport._wake(self.queue)

    async def _touch(self) -> None:
        await self.sub.transport._redis().xclaim(
            self.queue, GROUP, self.sub.consumer, 0, [self.entry_id], justid=True)

    async def _bury(self, headers: dict[str, Any]) -> None:
        await self.sub.transport._bury(self.queue, self.entry_id, self.body, headers)


class _RedisSubscription(PullSubscription):
    def __init__(self, transport: RedisTransport, queue: str, handler: Handler, *,
                 prefetch: int, delivery_limit: int | None) -> None:
        super().__init__(queue, handler, prefetch=prefetch, delivery_limit=delivery_limit,
                         heartbeat=max(0.05, transport.claim_idle / 3))
        self.transport = transport
        self.consumer = f"c-{uuid.uuid4().hex[:12]}"
        self._next_claim = 0.0
        #: this subscription's own connection for its (blocking) reads
        self.wire = Wire(transport._redis(), transport.socket_timeout)

    async def fetch(self, n: int) -> list[PullDelivery]:
        t = self.transport
        out: list[PullDelivery] = []
        wake = t._wakes.setdefault(self.queue, asyncio.Event())
        if wake.is_set() or time.monotonic() >= self._next_claim:
            wake.clear()
            self._next_claim = time.monotonic() + t.claim_interval
            out += await self._claim(n)
        if len(out) < n:
            block = () if out else (b"BLOCK", max(1, int(t.block * 1000)))
            command = pack(b"XREADGROUP", b"GROUP", GROUP, self.consumer, b"COUNT", n - len(out),
                           *block, b"STREAMS", self.queue, b">")
            [reply] = await self.wire.round_trip(command, 1)
            if isinstance(reply, Exception):
                raise reply
            for _stream, entries in reply or []:
                for entry_id, flat in entries:
                    fields = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
                    out.append(_RedisDelivery(self, entry_id, fields, 1))
        return out

    async def _claim(self, n: int) -> list[PullDelivery]:
        """Pending entries idle longer than ``claim_idle``, with counts from XPENDING."""
        r = self.transport._redis()
        idle_ms = int(self.transport.claim_idle * 1000)
        reply = await r.xautoclaim(self.queue, GROUP, self.consumer, idle_ms, "0-0", count=n)
        entries = [(eid, fields) for eid, fields in (reply[1] if reply else []) if fields]
        if not entries:
            return []
        pending = await r.xpending_range(self.queue, GROUP, entries[0][0], entries[-1][0],
                                         count=n + self.prefetch + 100,
                                         consumername=self.consumer)
        counts = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        out: list[PullDelivery] = []
        for eid, fields in entries:
            delivery = _RedisDelivery(self, eid, fields, counts.get(eid, 2))
            limit = self.delivery_limit
            if limit is not None and delivery.delivery_count > limit + 1:
                # its consumer crashed on the last allowed delivery: no one returned it
                delivery._settle()
                await delivery._dead("dead-letter", "delivery_limit",
                                     f"delivered {delivery.delivery_count - 1} times "
                                     f"(limit {limit}) from {self.queue}; last consumer "
                                     "never settled it")
                continue
            out.append(delivery)
        return out

    async def stopped(self) -> None:
        """Forget this consumer unless it still owns entries (DELCONSUMER would drop them)."""
        await self.wire.drop()
        r = self.transport._redis()
        if not await r.xpending_range(self.queue, GROUP, "-", "+", 1, consumername=self.consumer):
            await r.xgroup_delconsumer(self.queue, GROUP, self.consumer)


class RedisTransport(PullTransport):
    """Redis Streams through redis-py asyncio.

    Args:
        url: ``redis://[user:pass@]host:port/db``; query ``claim_idle`` (seconds an entry of a
            silent consumer waits before another claims it, default 3), ``block`` (seconds a
            read blocks, default 0.2).
        prefix: the run's queue-name prefix (queue names passed in already carry it).
    """

    name = "redis"
    errors = (rexc.RedisError, OSError)

    def __init__(self, url: str, *, prefix: str = "") -> None:
        super().__init__()
        query = query_of(url)
        self.url = urlunsplit(urlsplit(url)._replace(query=""))
        self.prefix = prefix
        self.claim_idle = number(query, "claim_idle", 3.0, url)
        self.block = number(query, "block", 0.2, url)
        self.claim_interval = max(0.05, min(0.5, self.claim_idle / 2))
        self.socket_timeout = max(10.0, self.block * 5)
        self._r: aioredis.Redis | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._limits: dict[str, int | None] = {}
        self._ack_script: Any = None
        #: acks and publishes go out together on one connection, one round trip in flight
        #: (each caller still returns only once Redis has its own command done)
        self._writer: GroupWriter | None = None

    # -- connections ---------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._r is not None:
            return
        r = aioredis.from_url(self.url, socket_connect_timeout=5,
                              socket_timeout=self.socket_timeout, decode_responses=False)
        try:
            await r.ping()
        except rexc.AuthenticationError as exc:
            await r.aclose()
            raise ServiceUnavailable(f"Redis at {redact_url(self.url)} refused the credentials: "
                                     f"{exc}") from exc
        except (rexc.RedisError, OSError) as exc:
            await r.aclose()
            raise ServiceUnavailable(f"cannot connect to Redis at {redact_url(self.url)}: "
                                     f"{exc!r}") from exc
        self._r = r
        self._ack_script = r.register_script(_ACK)
        self._writer = GroupWriter(r, self.socket_timeout)

    def _redis(self) -> aioredis.Redis:
        if self._r is None:
            raise TransportError(f"RedisTransport({redact_url(self.url)}) is not connected "
                                 "(use `async with` or connect())")
        return self._r

    def _group(self) -> GroupWriter:
        self._redis()  # not connected: say so
        assert self._writer is not None
        return self._writer

    async def _ack(self, queue: str, entry_id: bytes) -> None:
        """XACK + XDEL of ``entry_id``: one script call per queue and batch."""
        sha = self._ack_script.sha

        def build(ids: list[bytes]) -> bytes:
            return pack(b"EVALSHA", sha, 1, queue, GROUP, *ids)

        try:
            await self._group().merged(("ack", queue), entry_id, build)
        except rexc.NoScriptError:  # a restarted or flushed server: load it, then once more
            await self._ack_script(keys=[queue], args=[GROUP, entry_id])

    def _wake(self, queue: str) -> None:
        self._wakes.setdefault(queue, asyncio.Event()).set()

    async def _bury(self, queue: str, entry_id: bytes, body: bytes,
                    headers: dict[str, Any]) -> None:
        async with self._redis().pipeline(transaction=True) as p:
            p.xadd(dlq_name(queue), {"body": body, "headers": _encode_headers(headers)})
            p.xack(queue, GROUP, entry_id)
            p.xdel(queue, entry_id)
            await p.execute()

    # -- the interface -------------------------------------------------------------------------
    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        r = self._redis()
        try:
            await r.xgroup_create(queue, GROUP, id="0", mkstream=True)
        except rexc.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise TransportError(f"declare {queue!r} failed: {exc!r}") from exc
        except (rexc.RedisError, OSError) as exc:
            raise TransportError(f"declare {queue!r} failed: {exc!r}") from exc
        limit = "" if delivery_limit is None else str(int(delivery_limit))
        await self._call(f"declare {queue!r}", r.hset(_meta(queue), "delivery_limit", limit))
        self._limits[queue] = delivery_limit

    async def _limit(self, queue: str) -> int | None:
        if queue not in self._limits:
            raw = await self._call(f"limit of {queue!r}",
                                   self._redis().hget(_meta(queue), "delivery_limit"))
            self._limits[queue] = int(raw) if raw else None
        return self._limits[queue]

    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        command = pack(b"XADD", queue, b"NOMKSTREAM", b"*", b"body", bytes(body), b"headers",
                       _encode_headers(headers))
        entry = await self._call(f"publish to {queue!r}", self._group().call(command))
        if entry is None:
            raise TransportError(f"publish to {queue!r} not confirmed: no such stream "
                                 "(declare the queue first)")

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        sub = _RedisSubscription(self, queue, handler, prefetch=prefetch,
                                 delivery_limit=await self._limit(queue))
        return self._running(sub)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        r, name = self._redis(), dlq_name(queue)
        out: list[DeadLetter] = []
        while True:
            entries = await self._call(f"reading {name!r}", r.xrange(name, "-", "+", count=500))
            if not entries:
                return out
            for _eid, fields in entries:
                headers = _decode_headers(fields.get(b"headers"))
                out.append(DeadLetter(
                    bytes(fields.get(b"body", b"")), str(headers.get(REASON) or "unknown"),
                    str(headers.get(DETAIL) or ""), str(headers.get(SOURCE) or queue),
                    headers.get(CID), headers))
            await self._call(f"draining {name!r}", r.xdel(name, *[e for e, _ in entries]))

    async def depth(self, queue: str) -> int:
        r = self._redis()
        length = await self._call(f"depth of {queue!r}", r.xlen(queue))
        try:
            pending = (await r.xpending(queue, GROUP))["pending"]
        except rexc.ResponseError:
            pending = 0  # no group: nothing was ever delivered
        except (rexc.RedisError, OSError) as exc:
            raise TransportError(f"depth of {queue!r} failed: {exc!r}") from exc
        return max(0, int(length) - int(pending))

    async def purge(self, queue: str) -> None:
        r = self._redis()
        for name in (queue, dlq_name(queue)):
            await self._call(f"purge {name!r}", r.xtrim(name, maxlen=0))

    async def delete(self, queue: str) -> None:
        await self._call(f"delete {queue!r}",
                         self._redis().delete(queue, dlq_name(queue), _meta(queue)))
        self._limits.pop(queue, None)

    async def close(self) -> None:
        await self._cancel_all()
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()
        r, self._r = self._r, None
        if r is not None:
            try:
                await r.aclose()
            except (rexc.RedisError, OSError):
                pass

