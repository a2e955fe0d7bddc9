"""The Redis adapter's hot path on the wire: commands packed and replies parsed here, on
connections the adapter holds for itself.

redis-py parses a reply one line per ``await`` (about 15 per stream entry), which made parsing
a third of the adapter's CPU. Here a round trip writes its packed commands at once and hands
every chunk read to hiredis's C reply reader, which returns the whole replies in it.
Connections come from redis-py's pool (its handshake: AUTH, SELECT, ...) and are used only
through this module until given back (disconnected, since what they hold is unknown to
redis-py's parser).

:class:`GroupWriter` carries the XADDs and acks: the commands submitted while a round trip is
in flight go out together in the next one, and each caller waits for its own reply, so an
``ack()`` or a ``publish()`` still returns only once Redis has done its own command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import hiredis
import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis._parsers.base import BaseParser

__all__ = ["GroupWriter", "Wire", "pack", "reader", "reply_error"]

#: the most commands in one round trip of the writer
MAX_BATCH = 512
_READ = 1 << 16

_Slot = tuple[Callable[[list[Any]], bytes] | None, list[Any], list["asyncio.Future[Any]"]]


def _bulk(arg: bytes | str | int) -> bytes:
    if isinstance(arg, str):
        arg = arg.encode()
    elif isinstance(arg, int):
        arg = str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def pack(*args: bytes | str | int) -> bytes:
    """One command as RESP (an array of bulk strings)."""
    return b"*%d\r\n%s" % (len(args), b"".join([_bulk(a) for a in args]))


def reader() -> hiredis.Reader:
    """A RESP2 reply reader (hiredis, the C parser redis-py itself uses when present): bytes
    go in with ``feed``, whole replies come out of ``gets`` (``False``: read more). An error
    reply comes out as a ``ResponseError`` (not raised); :func:`reply_error` maps it."""
    return hiredis.Reader(replyError=rexc.ResponseError)


def reply_error(reply: Any) -> Any:
    """An error reply as redis-py's own exception for it (``NOSCRIPT`` -> NoScriptError, ...);
    any other reply unchanged."""
    if isinstance(reply, rexc.ResponseError) and type(reply) is rexc.ResponseError:
        return BaseParser.parse_error(str(reply))
    return reply


class Wire:
    """One connection of ``redis``'s pool, held for round trips of packed commands.

    Args:
        redis: the client whose pool lends the connection.
        timeout: seconds a round trip may take (a blocking read's block time included).
    """

    def __init__(self, redis: aioredis.Redis, timeout: float) -> None:
        self._redis = redis
        self.timeout = timeout
        self._conn: Any = None
        self._replies = reader()
        self.round_trips = 0

    async def round_trip(self, packed: bytes, n: int) -> list[Any]:
        """Send ``packed`` (``n`` commands) and return their ``n`` replies (an error reply as
        an exception instance). A failed or cancelled round trip drops the connection.

        Raises:
            redis.exceptions.RedisError | OSError | TimeoutError: the round trip failed (the
                commands may or may not have been done).
        """
        if self._conn is None:
            conn = await self._redis.connection_pool.get_connection()
            if conn._reader is None or conn._writer is None:
                await self._redis.connection_pool.release(conn)
                raise rexc.ConnectionError("the pool lent an unconnected connection")
            self._conn, self._replies = conn, reader()
        try:
            stream, writer, replies = self._conn._reader, self._conn._writer, self._replies
            writer.write(packed)
            await writer.drain()
            self.round_trips += 1
            out: list[Any] = []
            async with asyncio.timeout(self.timeout):
                while len(out) < n:
                    reply = replies.gets()
                    if reply is False:
                        chunk = await stream.read(_READ)
                        if not chunk:
                            raise rexc.ConnectionError("Redis closed the connection")
                        replies.feed(chunk)
                        continue
                    out.append(reply_error(reply))
            return out
        except hiredis.ProtocolError as exc:
            await self.drop()
            raise rexc.InvalidResponse(f"protocol error: {exc}") from exc
        except BaseException:
            await self.drop()
            raise

    async def drop(self) -> None:
        """Give the connection back to the pool, disconnected."""
        conn, self._conn, self._replies = self._conn, None, reader()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()
            with contextlib.suppress(Exception):
                await self._redis.connection_pool.release(conn)


class GroupWriter:
    """Sends packed commands through one :class:`Wire`, one round trip in flight at a time;
    what is submitted meanwhile goes in the next one (group commit).

    Args:
        redis: the client whose pool lends the connection.
        timeout: seconds one round trip may take.
    """

    def __init__(self, redis: aioredis.Redis, timeout: float) -> None:
        self.wire = Wire(redis, timeout)
        #: (build, args, callers): one command each, ``build(args)`` or the one packed arg
        self._pending: list[_Slot] = []
        self._open: dict[Any, _Slot] = {}  # merge key -> its slot in ``_pending``
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def call(self, command: bytes) -> Any:
        """Send ``command`` (packed) with the next batch and return its reply.

        Raises:
            redis.exceptions.ResponseError: Redis answered this command with an error.
            redis.exceptions.RedisError | OSError | TimeoutError: the round trip failed (the
                command may or may not have been done).
        """
        future = self._future()
        self._pending.append((None, [command], [future]))
        return await future

    async def merged(self, key: Any, arg: Any, build: Callable[[list[Any]], bytes]) -> Any:
        """Like :meth:`call`, but the calls with ``key`` that go in the same batch are one
        command, ``build(their args)``; each caller gets that command's reply."""
        future = self._future()
        slot = self._open.get(key)
        if slot is None:
            slot = self._open[key] = (build, [], [])
            self._pending.append(slot)
        slot[1].append(arg)
        slot[2].append(future)
        return await future

    def _future(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="redis group writer")
        self._wake.set()
        return loop.create_future()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._open = {}  # what comes now merges into the next batch
            try:
                packed = b"".join([args[0] if build is None else build(args)
                                   for build, args, _ in batch])
                replies = await self.wire.round_trip(packed, len(batch))
            except asyncio.CancelledError:
                self._fail(batch, rexc.ConnectionError("the transport was closed"))
                raise
            except Exception as exc:  # the round trip failed: every caller in it hears so
                self._fail(batch, exc)
                continue
            for (_, _, futures), reply in zip(batch, replies, strict=True):
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)

    @staticmethod
    def _fail(batch: list[_Slot], exc: BaseException) -> None:
        for _, _, futures in batch:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)

    async def close(self) -> None:
        """Stop the writer; callers still waiting hear a ConnectionError."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail(self._pending, rexc.ConnectionError("the transport was closed"))
        self._pending, self._open = [], {}
        await self.wire.drop()
