"""One proxied connection: two endpoints (sockets) and, per direction, a link with its toxics.

A :class:`Link` is one direction of one connection. With no toxics it writes each read straight
to the destination socket (the fast path, no task switch). With toxics it runs one task per toxic,
joined by :class:`ChunkQueue` objects, and a writer task. Live changes (add, update, remove)
rewire the chain in place without dropping buffered data: see :meth:`Link.add`,
:meth:`Link.update` and :meth:`Link.remove`. Backpressure: a full toxic queue or a full socket
write buffer pauses reading the source socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import TYPE_CHECKING, Any

from harness.chaos.toxiproxy.stream import EOF, Chunk, ChunkQueue, Interrupted, Stub, now
from harness.chaos.toxiproxy.toxics import NoopToxic, ToxicSpec

if TYPE_CHECKING:
    from harness.chaos.toxiproxy.proxy import Proxy

__all__ = ["Connection", "Endpoint", "Link"]

_NOOP = NoopToxic()


class _Stage:
    """One toxic running over one link."""

    def __init__(self, spec: ToxicSpec, inq: ChunkQueue, out: ChunkQueue, link: Link) -> None:
        self.spec = spec
        self.inq = inq
        self.out = out
        self.link = link
        self.state: dict[str, Any] = {}
        self.stub: Stub | None = None
        self.task: asyncio.Task[None] | None = None
        self.dead = False

    def start(self) -> None:
        self.stub = Stub(self.inq, self.out, self.state, self.link)
        self.task = asyncio.get_running_loop().create_task(self._run(self.stub, self.spec))

    async def _run(self, stub: Stub, spec: ToxicSpec) -> None:
        toxic = spec.toxic if random.random() < spec.toxicity else _NOOP
        with contextlib.suppress(Interrupted):
            await toxic.pipe(stub)

    async def stop(self) -> None:
        if self.stub is not None and self.task is not None:
            self.stub.interrupt()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Endpoint(asyncio.BufferedProtocol):
    """One socket of a proxied connection: reads go to the link that reads it, in chunks of
    ``read_size``; write backpressure pauses the socket the writing link reads from."""

    def __init__(self, read_size: int) -> None:
        self.buffer = bytearray(read_size)
        self.view = memoryview(self.buffer)
        self.transport: asyncio.Transport | None = None
        self.reads: Link | None = None  # the link that reads this socket
        self.writes: Link | None = None  # the link that writes to this socket
        self.write_paused = False
        self.closed = False
        self._pauses: set[str] = set()
        self._drain: asyncio.Future[None] | None = None
        self._early: list[bytes | None] = []  # data or EOF before the links exist

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.view[:nbytes])
        if self.reads is None:
            self._early.append(data)
        else:
            self.reads.feed(data)

    def eof_received(self) -> bool:
        if self.reads is None:
            self._early.append(None)
        else:
            self.reads.feed_eof()
        return True  # keep writing the other direction until its link closes this socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()
        if self.reads is not None:
            self.reads.feed_eof()
        else:
            self._early.append(None)

    def attach(self, reads: Link, writes: Link) -> None:
        """Wire the links and replay what arrived before them."""
        self.reads, self.writes = reads, writes
        early, self._early = self._early, []
        for item in early:
            if item is None:
                reads.feed_eof()
            else:
                reads.feed(item)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.writes is not None:
            self.writes.src.pause("write")

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake()
        if self.writes is not None:
            self.writes.src.resume("write")

    def _wake(self) -> None:
        fut, self._drain = self._drain, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def drain(self) -> None:
        """Wait until the socket's write buffer is below its high-water mark."""
        while self.write_paused and not self.closed:
            if self._drain is None:
                self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def pause(self, why: str) -> None:
        """Stop reading this socket (``why``: write backpressure or a full toxic queue)."""
        if not self._pauses and self.transport is not None and not self.closed:
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()
        self._pauses.add(why)

    def resume(self, why: str) -> None:
        self._pauses.discard(why)
        if not self._pauses and self.transport is not None and not self.closed:
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort_with_rst(self) -> None:
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()


class Link:
    """One direction of a connection: read ``src``, run the chain, write ``dst``."""

    def __init__(self, conn: Connection, direction: str, src: Endpoint, dst: Endpoint) -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.stages: list[_Stage] = []
        self.final = ChunkQueue(limit=4)
        self.writer_task: asyncio.Task[None] | None = None
        self.done = False
        self.eof = False

    def start(self, specs: list[ToxicSpec]) -> None:
        for spec in specs:
            self._append(spec)

    def _head(self) -> ChunkQueue:
        return self.stages[0].inq if self.stages else self.final

    def _ensure_writer(self) -> None:
        if self.writer_task is None:
            self.writer_task = asyncio.get_running_loop().create_task(self._write())

    def _append(self, spec: ToxicSpec) -> None:
        self._ensure_writer()
        inq = ChunkQueue(limit=spec.toxic.BUFFER)
        if self.stages:
            self.stages[-1].out = inq
            if self.stages[-1].stub is not None:
                self.stages[-1].stub.out = inq
        stage = _Stage(spec, inq, self.final, self)
        self.stages.append(stage)
        stage.start()

    def feed(self, data: bytes) -> None:
        """A read from ``src``: straight to ``dst`` without toxics, else into the chain."""
        if self.done or self.eof:
            return
        if not self.stages and not self.final.items:
            if self.dst.transport is not None and not self.dst.closed:
                self.dst.transport.write(data)
            return
        head = self._head()
        head.put_nowait(Chunk(data, now()))
        if len(head) >= head.limit and head.on_space is None:
            self.src.pause("queue")
            head.on_space = self._queue_has_space

    def _queue_has_space(self) -> None:
        self.src.resume("queue")

    def feed_eof(self) -> None:
        """``src`` ended (EOF or closed)."""
        if self.eof:
            return
        self.eof = True
        if not self.stages and not self.final.items and self.writer_task is None:
            self.finish()
        else:
            self._head().put_nowait(EOF)

    async def _write(self) -> None:
        dst = self.dst
        while True:
            chunk = await self.final.get()
            if chunk is EOF:
                break
            if dst.transport is not None and not dst.closed:
                dst.transport.write(chunk.data)
                if dst.write_paused:
                    await dst.drain()
        self.finish()

    def finish(self) -> None:
        """This direction ended: close the destination (Toxiproxy closes, never half-closes)."""
        if not self.done:
            self.done = True
            self.conn.link_done(self)

    def reset(self) -> None:
        """reset_peer fired: abort both sockets with an RST."""
        self.conn.reset()

    # Live changes -----------------------------------------------------------------------

    def add(self, spec: ToxicSpec) -> None:
        """A toxic was added: it sees chunks read from now on."""
        if not self.done:
            self._append(spec)

    async def update(self, spec: ToxicSpec) -> None:
        """A toxic changed: restart its stage with the new values (toxicity is re-drawn)."""
        for stage in self.stages:
            if stage.spec.name == spec.name and not stage.dead:
                await stage.stop()
                stage.spec = spec
                if stage.stub is not None and not stage.stub.closed:
                    stage.start()
                return

    async def remove(self, name: str) -> None:
        """A toxic was removed: what it holds and what waits for it moves on, in order."""
        for index, stage in enumerate(self.stages):
            if stage.spec.name != name or stage.dead:
                continue
            await stage.stop()
            stub = stage.stub
            assert stub is not None
            if not stub.closed:
                stage.spec.toxic.on_remove(stub)
            if stub.closed:  # the stream ended here: keep the stage as a sink
                stage.dead = True
                return
            self.stages.remove(stage)
            stage.inq.retire(stage.out)
            if index > 0:
                prev = self.stages[index - 1]
                prev.out = stage.out
                if prev.stub is not None:
                    prev.stub.out = stage.out
            return

    def cancel(self) -> None:
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()
        if self.writer_task is not None:
            self.writer_task.cancel()


class Connection:
    """A proxied client connection and its upstream connection."""

    def __init__(self, proxy: Proxy, client: Endpoint, upstream: Endpoint) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.links = {
            "upstream": Link(self, "upstream", client, upstream),
            "downstream": Link(self, "downstream", upstream, client),
        }

    def start(self, specs: list[ToxicSpec]) -> None:
        for direction, link in self.links.items():
            link.start([s for s in specs if s.direction == direction])
        self.client.attach(self.links["upstream"], self.links["downstream"])
        self.upstream.attach(self.links["downstream"], self.links["upstream"])

    def link_done(self, link: Link) -> None:
        link.dst.close()
        if all(x.done for x in self.links.values()):
            self.proxy.connections.discard(self)

    def reset(self) -> None:
        self.client.abort_with_rst()
        self.upstream.abort_with_rst()
        self.close()

    def close(self) -> None:
        """Close both sockets and stop every task (disable, delete, listen change)."""
        for link in self.links.values():
            link.done = True
            link.cancel()
        self.client.close()
        self.upstream.close()
        self.proxy.connections.discard(self)
