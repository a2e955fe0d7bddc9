"""Proxies: a listener, its connections, and per direction a link that runs the toxic chain.

A :class:`Link` is one direction of one connection. With no toxics it copies reads straight to
the destination socket (the fast path). With toxics it runs one task per toxic, joined by
:class:`ChunkQueue` objects, and a writer task. Live changes (add, update, remove) rewire the
chain in place without dropping buffered data: see :meth:`Link.add`, :meth:`Link.update` and
:meth:`Link.remove`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import Any

from harness.chaos.toxiproxy.stream import EOF, Chunk, ChunkQueue, Interrupted, Stub, now
from harness.chaos.toxiproxy.toxics import NoopToxic, ToxicSpec

__all__ = ["DIRECTIONS", "Connection", "Link", "Proxy", "format_addr", "split_hostport"]

DIRECTIONS = ("upstream", "downstream")
_NOOP = NoopToxic()
_WRITE_HIGH = 256 * 1024


def split_hostport(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); raises ValueError like Go's net.SplitHostPort."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if port and not port.isdigit():
        raise ValueError(f"address tcp/{port}: unknown port")
    number = int(port) if port else 0
    if not 0 <= number <= 65535:
        raise ValueError(f"address {port}: invalid port")
    return host, number


def format_addr(host: str, port: int) -> str:
    """``host:port`` with IPv6 hosts in brackets, as Go prints addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


class Link:
    """One direction of a connection: read ``src``, run the chain, write ``dst``."""

    def __init__(self, conn: Connection, direction: str, src: asyncio.StreamReader,
                 dst: asyncio.StreamWriter, read_size: int) -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.read_size = read_size
        self.stages: list[_Stage] = []
        self.final = ChunkQueue(limit=4)
        self.writer_task: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.done = False

    def start(self, specs: list[ToxicSpec]) -> None:
        for spec in specs:
            self._append(spec)
        self.tasks.append(asyncio.get_running_loop().create_task(self._read()))

    def _head(self) -> ChunkQueue:
        return self.stages[0].inq if self.stages else self.final

    def _ensure_writer(self) -> None:
        if self.writer_task is None:
            self.writer_task = asyncio.get_running_loop().create_task(self._write())
            self.tasks.append(self.writer_task)

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

    async def _read(self) -> None:
        src, dst, size = self.src, self.dst, self.read_size
        try:
            while True:
                data = await src.read(size)
                if not data:
                    break
                if self.done:
                    continue
                if not self.stages and not self.final.items:
                    dst.write(data)
                    if dst.transport.get_write_buffer_size() > _WRITE_HIGH:
                        await dst.drain()
                else:
                    await self._head().put(Chunk(data, now()))
        except (ConnectionError, OSError):
            pass
        if not self.stages and not self.final.items and self.writer_task is None:
            self.finish()
        else:
            await self._head().put(EOF)

    async def _write(self) -> None:
        dst = self.dst
        try:
            while True:
                chunk = await self.final.get()
                if chunk is EOF:
                    break
                dst.write(chunk.data)
                if dst.transport.get_write_buffer_size() > _WRITE_HIGH:
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        self.finish()

    def finish(self) -> None:
        """This direction ended: close the destination (Toxiproxy closes, never half-closes)."""
        if not self.done:
            self.done = True
            self.conn.close_writer(self.dst)

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
        for task in self.tasks:
            task.cancel()


class Connection:
    """A proxied client connection and its upstream connection."""

    def __init__(self, proxy: Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        size = proxy.read_size
        self.links = {
            "upstream": Link(self, "upstream", client[0], upstream[1], size),
            "downstream": Link(self, "downstream", upstream[0], client[1], size),
        }
        self.closed_writers = 0

    def start(self, specs: list[ToxicSpec]) -> None:
        for direction, link in self.links.items():
            link.start([s for s in specs if s.direction == direction])

    def close_writer(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        self.closed_writers += 1
        if self.closed_writers >= 2:
            self.proxy.connections.discard(self)

    def reset(self) -> None:
        for _, writer in (self.client, self.upstream):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.close()

    def close(self) -> None:
        """Close both sockets and stop every task (disable, delete, listen change)."""
        for link in self.links.values():
            link.done = True
            link.cancel()
        for _, writer in (self.client, self.upstream):
            writer.close()
        self.proxy.connections.discard(self)


class Proxy:
    """One named proxy: its stored settings, its toxics, its listener and its connections.

    Args:
        name: the proxy's name.
        listen: ``host:port`` to bind (updated to the bound address once enabled).
        upstream: ``host:port`` dialled for each accepted client.
        read_size: bytes per socket read (one chunk).
    """

    def __init__(self, name: str, listen: str, upstream: str, *, read_size: int = 32768) -> None:
        self.name = name
        self.listen = listen or "127.0.0.1:0"
        self.upstream = upstream
        self.enabled = False
        self.read_size = read_size
        self.toxics: dict[str, ToxicSpec] = {}
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's proxy shape, upstream toxics first."""
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.toxic_list()]}

    def toxic_list(self) -> list[ToxicSpec]:
        """Toxics, upstream first then downstream, each in insertion order."""
        values = list(self.toxics.values())
        return ([t for t in values if t.direction == "upstream"]
                + [t for t in values if t.direction == "downstream"])

    async def start(self) -> None:
        """Bind and accept; raises OSError (the bind failure) and stays disabled."""
        if self.enabled:
            return
        host, port = split_hostport(self.listen)
        if host in ("", "localhost"):
            host = "127.0.0.1" if host == "localhost" or not host else host
        server = await asyncio.start_server(self._accept, host, port, backlog=1024,
                                            limit=max(self.read_size * 2, 65536))
        sockname = server.sockets[0].getsockname()
        self.listen = format_addr(sockname[0], sockname[1])
        self._server = server
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and close every connection; toxics are kept."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _nodelay(writer)
        try:
            host, port = split_hostport(self.upstream)
            up = await asyncio.open_connection(host or "127.0.0.1", port,
                                               limit=max(self.read_size * 2, 65536))
        except (OSError, ValueError):
            writer.close()
            return
        if not self.enabled:
            writer.close()
            up[1].close()
            return
        _nodelay(up[1])
        conn = Connection(self, (reader, writer), up)
        self.connections.add(conn)
        conn.start(self.toxic_list())

    # Toxic changes, applied to every open connection --------------------------------------

    def add_toxic(self, spec: ToxicSpec) -> None:
        self.toxics[spec.name] = spec
        for conn in list(self.connections):
            conn.links[spec.direction].add(spec)

    async def update_toxic(self, spec: ToxicSpec) -> None:
        await asyncio.gather(*(conn.links[spec.direction].update(spec)
                               for conn in list(self.connections)))

    async def remove_toxic(self, name: str) -> None:
        spec = self.toxics.pop(name)
        await asyncio.gather(*(conn.links[spec.direction].remove(name)
                               for conn in list(self.connections)))

    async def reset_toxics(self) -> None:
        for name in list(self.toxics):
            await self.remove_toxic(name)


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
