"""The plumbing between toxics: chunks, interruptible queues and the per-toxic stub.

A link (one direction of one proxied connection) is a chain of stages. Each stage runs one toxic
over a :class:`Stub`: it reads :class:`Chunk` objects from its input :class:`ChunkQueue` and puts
them on its output queue. ``EOF`` marks the end of the stream. A stage is stopped by
:meth:`Stub.interrupt`; every toxic hands any chunk it holds to its output before returning, so a
live change never loses buffered data (Toxiproxy's "don't drop any data on the floor").
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["EOF", "Chunk", "ChunkQueue", "Interrupted", "Stub"]


@dataclass(slots=True)
class Chunk:
    """One read from a socket.

    Attributes:
        data: the bytes read.
        ts: ``time.monotonic()`` when read (moved forward by latency toxics).
    """

    data: bytes
    ts: float


#: End of stream marker passed down the chain.
EOF: Final = None


class Interrupted(Exception):
    """Raised inside a toxic's ``pipe`` when its stage is being stopped."""


class ChunkQueue:
    """A FIFO with a soft limit (``put`` waits while full) and a forced ``put_nowait``.

    A retired queue may be *redirected*: later puts go to the target, so a stage blocked on a
    queue that a live change removed still delivers its chunk in order.
    """

    def __init__(self, limit: int = 1) -> None:
        self.items: deque[Chunk | None] = deque()
        self.limit = max(1, limit)
        self.redirect: ChunkQueue | None = None
        self.sink = False
        #: called once when the queue has room again (the socket reader paused on a full queue)
        self.on_space: Callable[[], None] | None = None
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self.items)

    def put_nowait(self, item: Chunk | None) -> None:
        """Append ignoring the limit (used to flush held data on interrupt)."""
        target = self
        while target.redirect is not None:
            target = target.redirect
        if target.sink:
            return
        target.items.append(item)
        target._wake_getter()

    async def put(self, item: Chunk | None, stub: Stub | None = None) -> bool:
        """Append, waiting while the queue holds ``limit`` items.

        Returns False when ``stub`` was interrupted while waiting: the item is then appended
        anyway (over the limit), so that an interrupt never waits on a stalled reader and never
        loses data.
        """
        while True:
            if self.redirect is not None:
                return await self.redirect.put(item, stub)
            if self.sink:
                return True
            if len(self.items) < self.limit:
                self.items.append(item)
                self._wake_getter()
                return True
            if stub is not None and stub.interrupted:
                self.put_nowait(item)
                return False
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            if stub is not None:
                stub.waiter = fut
            try:
                await fut
            finally:
                if stub is not None:
                    stub.waiter = None
                if fut in self._putters:
                    self._putters.remove(fut)

    def drop_all(self) -> None:
        """Discard what is queued and everything put later (the stream was closed here)."""
        self.sink = True
        self.items.clear()
        self._wake_putters()

    def retire(self, target: ChunkQueue) -> None:
        """Move every item to the end of ``target`` and redirect later puts there."""
        while self.items:
            target.put_nowait(self.items.popleft())
        self.redirect = target
        self._wake_putters()

    async def get(self, stub: Stub | None = None) -> Chunk | None:
        """Take the oldest item; raises :class:`Interrupted` when ``stub`` is interrupted."""
        while not self.items:
            if stub is not None and stub.interrupted:
                raise Interrupted
            fut = asyncio.get_running_loop().create_future()
            self._getter = fut
            if stub is not None:
                stub.waiter = fut
            try:
                await fut
            finally:
                self._getter = None
                if stub is not None:
                    stub.waiter = None
            if stub is not None and stub.timed_out:
                raise TimeoutError
        item = self.items.popleft()
        self._wake_putters()
        return item

    def _wake_getter(self) -> None:
        fut = self._getter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _wake_putters(self) -> None:
        if self.on_space is not None and (len(self.items) < self.limit or self.sink
                                          or self.redirect is not None):
            callback, self.on_space = self.on_space, None
            callback()
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)
                if self.redirect is None and not self.sink:
                    break


class Stub:
    """What a toxic sees: its input, its output, per-connection state and the interrupt flag.

    Args:
        inq: the input queue.
        out: the output queue (the next stage's input, or the writer's).
        state: per-connection state shared by restarts of the same toxic (limit_data's count).
        link: the owning link (used by reset_peer to abort the connection).
    """

    def __init__(self, inq: ChunkQueue, out: ChunkQueue, state: dict[str, Any], link: Any) -> None:
        self.inq = inq
        self.out = out
        self.state = state
        self.link = link
        self.interrupted = False
        self.closed = False
        self.timed_out = False
        self.waiter: asyncio.Future[Any] | None = None

    def interrupt(self) -> None:
        """Ask the running toxic to stop; it flushes what it holds and returns."""
        self.interrupted = True
        fut = self.waiter
        if fut is not None and not fut.done():
            fut.set_result(False)

    async def get(self) -> Chunk | None:
        """Next chunk or ``EOF``; raises :class:`Interrupted` when stopped."""
        return await self.inq.get(self)

    async def get_within(self, seconds: float) -> Chunk | None:
        """Like :meth:`get`, but raises ``TimeoutError`` after ``seconds`` without input."""
        loop = asyncio.get_running_loop()
        self.timed_out = False
        handle = loop.call_later(seconds, self._fire_timeout)
        try:
            return await self.inq.get(self)
        finally:
            handle.cancel()
            self.timed_out = False

    def _fire_timeout(self) -> None:
        self.timed_out = True
        fut = self.waiter
        if fut is not None and not fut.done():
            fut.set_result(False)

    def unget(self, item: Chunk | None) -> None:
        """Put an item back at the front of the input (re-read after a restart)."""
        self.inq.items.appendleft(item)

    async def put(self, chunk: Chunk) -> bool:
        """Pass a chunk on (waits while the next stage is full).

        Returns False when interrupted meanwhile (the chunk was still passed on): the toxic
        should then flush what else it holds and return.
        """
        return await self.out.put(chunk, self)

    def flush(self, chunk: Chunk | None) -> None:
        """Pass a held chunk on immediately, ignoring the limit (used when interrupted)."""
        if chunk is not None and chunk.data:
            self.out.put_nowait(chunk)

    async def sleep(self, seconds: float | None) -> bool:
        """Sleep (``None``: until interrupted); returns False (early) when interrupted."""
        if self.interrupted:
            return False
        if seconds is not None and seconds <= 0:
            return True
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        handle = None if seconds is None else loop.call_later(seconds, _set_true, fut)
        self.waiter = fut
        try:
            return bool(await fut)
        finally:
            if handle is not None:
                handle.cancel()
            self.waiter = None

    def close(self) -> None:
        """End the stream in this direction: the writer closes its socket."""
        if not self.closed:
            self.closed = True
            self.out.put_nowait(EOF)
            self.inq.drop_all()


def _set_true(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(True)


def now() -> float:
    """The clock chunks are stamped with."""
    return time.monotonic()
