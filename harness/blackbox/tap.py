"""What the broker delivered to a black box and what it acked, read off its AMQP connection.

RabbitMQ keeps no per-message delivery record a client can read (the firehose tracer needs
``rabbitmqctl`` and still says nothing of acks), so the harness puts a small TCP relay, the
**tap**, between each ``command:`` agent and the broker (or the agent's Toxiproxy proxy). The
bytes pass unchanged; a copy of each direction is parsed into AMQP 0-9-1 frames and recorded:

- ``deliver`` (``source: tap``): a ``basic.deliver`` (or ``basic.get-ok``) with the message's
  identities read from its body, ``delivery_count`` from the quorum queue's
  ``x-delivery-count`` header (+1) and ``redelivered``;
- ``ack`` with ``latency_ms`` (deliver to ack), ``nack`` (``requeue`` as the agent asked) for
  ``basic.ack`` / ``basic.nack`` / ``basic.reject``, ``multiple`` included;
- ``emit``: a ``basic.publish`` as it leaves the agent, with the identities of its body (the
  router records the ``publish`` itself when it takes the message off the exchange; ``emit``
  is the moment the agent published, which the ``causal`` checker compares with its acks).

Delivery tags are per channel; a channel or connection that closes drops its open deliveries
(the broker redelivers them: the next ``deliver`` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Callable
from typing import Any

from harness.envelope import peek_identities

__all__ = ["AmqpTap", "FrameReader"]

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
METHOD, HEADER, BODY = 1, 2, 3
FRAME_END = 0xCE
MAX_BODY = 4 * 1024 * 1024  # bigger bodies are recorded without identities
BASIC = 60
DELIVER, GET_OK, PUBLISH, ACK, REJECT, NACK = 60, 71, 40, 80, 90, 120
CHANNEL, CONNECTION = 20, 10
CLOSE, CLOSE_OK = 40, 41

Record = Callable[..., Any]


def _shortstr(buf: bytes, pos: int) -> tuple[str, int]:
    n = buf[pos]
    return buf[pos + 1 : pos + 1 + n].decode("utf-8", "replace"), pos + 1 + n


_FIXED = {
    "t": 1,
    "b": 1,
    "B": 1,
    "s": 2,
    "u": 2,
    "I": 4,
    "i": 4,
    "L": 8,
    "l": 8,
    "f": 4,
    "d": 8,
    "D": 5,
    "T": 8,
    "V": 0,
}


def _value(buf: bytes, pos: int) -> tuple[Any, int]:
    """One field-table value (RabbitMQ's type letters); ints decoded, others skipped."""
    kind = chr(buf[pos])
    pos += 1
    if kind in ("l", "L"):
        return struct.unpack_from(">q", buf, pos)[0], pos + 8
    if kind in ("I", "i"):
        return struct.unpack_from(">i" if kind == "I" else ">I", buf, pos)[0], pos + 4
    if kind in ("s", "u"):
        return struct.unpack_from(">h" if kind == "s" else ">H", buf, pos)[0], pos + 2
    if kind in ("b", "B"):
        return struct.unpack_from(">b" if kind == "b" else ">B", buf, pos)[0], pos + 1
    if kind in _FIXED:
        return None, pos + _FIXED[kind]
    if kind in ("S", "x", "A", "F"):
        (n,) = struct.unpack_from(">I", buf, pos)
        return None, pos + 4 + n
    raise ValueError(f"unknown field type {kind!r}")


def _headers(payload: bytes) -> dict[str, Any]:
    """The integer headers of a basic content-header frame's properties."""
    flags = struct.unpack_from(">H", payload, 12)[0]
    pos = 14  # basic has 14 properties: one flags word, no continuation
    if flags & 0x8000:  # content-type
        pos = _shortstr(payload, pos)[1]
    if flags & 0x4000:  # content-encoding
        pos = _shortstr(payload, pos)[1]
    if not flags & 0x2000:
        return {}
    (size,) = struct.unpack_from(">I", payload, pos)
    pos += 4
    end = pos + size
    out: dict[str, Any] = {}
    while pos < end:
        name, pos = _shortstr(payload, pos)
        value, pos = _value(payload, pos)
        if value is not None:
            out[name] = value
    return out


class FrameReader:
    """Splits one direction of an AMQP connection into frames (bytes in any chunking)."""

    def __init__(self, *, client: bool) -> None:
        self._buf = bytearray()
        self._header = client  # the client opens with the 8-byte protocol header

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """New complete frames as (type, channel, payload)."""
        self._buf += data
        frames: list[tuple[int, int, bytes]] = []
        if self._header:
            if len(self._buf) < len(PROTOCOL_HEADER):
                return frames
            del self._buf[: len(PROTOCOL_HEADER)]
            self._header = False
        while len(self._buf) >= 7:
            kind, channel, size = struct.unpack_from(">BHI", self._buf, 0)
            if len(self._buf) < 8 + size:
                break
            if self._buf[7 + size] != FRAME_END:
                raise ValueError("frame end missing: not AMQP 0-9-1")
            frames.append((kind, channel, bytes(self._buf[7 : 7 + size])))
            del self._buf[: 8 + size]
        return frames


class _Pending:
    """A message being assembled from its method, header and body frames."""

    def __init__(self, method: int, tag: int, redelivered: bool, routing_key: str) -> None:
        self.method = method
        self.tag = tag
        self.redelivered = redelivered
        self.routing_key = routing_key
        self.size = -1
        self.headers: dict[str, Any] = {}
        self.body = bytearray()


class TapConnection:
    """The parsed state of one tapped connection: open deliveries per channel."""

    def __init__(self, agent: str, queue: str, record: Record) -> None:
        self.agent = agent
        self.queue = queue
        self.record = record
        self.client = FrameReader(client=True)
        self.server = FrameReader(client=False)
        self.open: dict[int, dict[int, tuple[float, dict[str, Any]]]] = {}  # ch -> tag -> ...
        self._incoming: dict[int, _Pending] = {}  # ch -> message from the broker
        self._outgoing: dict[int, _Pending] = {}  # ch -> message from the agent
        self.broken = False

    def from_client(self, data: bytes) -> None:
        self._frames(self.client, data, self._outgoing, client=True)

    def from_server(self, data: bytes) -> None:
        self._frames(self.server, data, self._incoming, client=False)

    def _frames(
        self, reader: FrameReader, data: bytes, pending: dict[int, _Pending], *, client: bool
    ) -> None:
        if self.broken:
            return
        try:
            for kind, channel, payload in reader.feed(data):
                if kind == METHOD:
                    self._method(channel, payload, pending, client=client)
                elif kind == HEADER and channel in pending:
                    msg = pending[channel]
                    msg.size = struct.unpack_from(">Q", payload, 4)[0]
                    with contextlib.suppress(ValueError, struct.error, IndexError):
                        msg.headers = _headers(payload)
                    if msg.size == 0:
                        self._complete(channel, pending.pop(channel), client=client)
                elif kind == BODY and channel in pending:
                    msg = pending[channel]
                    if len(msg.body) < MAX_BODY:
                        msg.body += payload
                    if len(msg.body) >= msg.size:
                        self._complete(channel, pending.pop(channel), client=client)
        except (ValueError, struct.error, IndexError):
            self.broken = True  # not AMQP as we know it: relay on, record nothing more

    def _method(
        self, channel: int, payload: bytes, pending: dict[int, _Pending], *, client: bool
    ) -> None:
        cls, method = struct.unpack_from(">HH", payload, 0)
        if cls in (CHANNEL, CONNECTION) and method in (CLOSE, CLOSE_OK):
            if cls == CONNECTION:
                self.open.clear()
            else:
                self.open.pop(channel, None)
            return
        if cls != BASIC:
            return
        if not client and method in (DELIVER, GET_OK):
            pos = 4
            if method == DELIVER:
                pos = _shortstr(payload, pos)[1]  # consumer tag
            tag, flags = struct.unpack_from(">QB", payload, pos)
            pos = _shortstr(payload, pos + 9)[1]  # exchange
            key = _shortstr(payload, pos)[0]
            pending[channel] = _Pending(method, tag, bool(flags & 1), key)
        elif client and method == PUBLISH:
            pos = _shortstr(payload, 6)[1]  # after reserved-1 and the exchange
            key = _shortstr(payload, pos)[0]
            pending[channel] = _Pending(method, 0, False, key)
        elif client and method in (ACK, REJECT, NACK):
            tag, flags = struct.unpack_from(">QB", payload, 4)
            multiple = bool(flags & 1) and method != REJECT
            requeue = bool(flags & (1 if method == REJECT else 2))
            self._settle(channel, tag, multiple, method, requeue)

    def _complete(self, channel: int, msg: _Pending, *, client: bool) -> None:
        ids = peek_identities(bytes(msg.body)) if len(msg.body) < MAX_BODY else {}
        if client:
            self.record(
                "emit",
                agent=self.agent,
                routing_key=msg.routing_key,
                body_len=msg.size,
                source="tap",
                **ids,
            )
            return
        count = msg.headers.get("x-delivery-count")
        fields = {
            "queue": self.queue,
            "delivery_count": int(count) + 1
            if isinstance(count, int)
            else (2 if msg.redelivered else 1),
            "redelivered": msg.redelivered,
            **ids,
        }
        self.open.setdefault(channel, {})[msg.tag] = (time.monotonic(), fields)
        self.record("deliver", agent=self.agent, source="tap", **fields)

    def _settle(self, channel: int, tag: int, multiple: bool, method: int, requeue: bool) -> None:
        held = self.open.get(channel, {})
        tags = [t for t in held if t <= tag or tag == 0] if multiple else [tag]
        now = time.monotonic()
        for t in sorted(tags):
            if t not in held:
                continue
            started, fields = held.pop(t)
            ids = {k: v for k, v in fields.items() if k not in ("delivery_count", "redelivered")}
            if method == ACK:
                self.record(
                    "ack",
                    agent=self.agent,
                    source="tap",
                    latency_ms=round((now - started) * 1000, 3),
                    **ids,
                )
            else:
                self.record(
                    "nack",
                    agent=self.agent,
                    source="tap",
                    requeue=requeue,
                    rejected=method == REJECT or None,
                    **ids,
                )


class AmqpTap:
    """A TCP relay on 127.0.0.1 for one agent, recording what passes (module docstring).

    Args:
        agent: the agent name the events carry.
        queue: its input queue (the events' ``queue``).
        upstream: ``(host, port)`` of the broker or of the agent's fault proxy.
        record: the recorder's ``record``.
    """

    def __init__(self, agent: str, queue: str, upstream: tuple[str, int], record: Record) -> None:
        self.agent = agent
        self.queue = queue
        self.upstream = upstream
        self.record = record
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        conn = TapConnection(self.agent, self.queue, self.record)
        pumps = [
            asyncio.create_task(_pump(reader, up_writer, conn.from_client)),
            asyncio.create_task(_pump(up_reader, writer, conn.from_server)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Callable[[bytes], None]
) -> None:
    with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
        while True:
            data = await reader.read(65536)
            if not data:
                break
            seen(data)  # parsed (and recorded) before the other side can answer it
            writer.write(data)
            await writer.drain()
