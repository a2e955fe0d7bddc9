"""The Redis adapter's own RESP packing and reply reading (hiredis), and its group writer on a
real Redis: commands submitted together share a round trip, and each caller gets its own reply
or error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
import redis.exceptions as rexc

from harness.transport.redis_wire import GroupWriter, pack, reader, reply_error
from tests.transport.conftest import url_for

pytestmark = pytest.mark.timeout(60)


def test_pack_writes_a_command_as_an_array_of_bulk_strings():
    assert pack(b"XADD", "q", 7, b"") == b"*4\r\n$4\r\nXADD\r\n$1\r\nq\r\n$1\r\n7\r\n$0\r\n\r\n"


def _replies(wire: bytes) -> list[object]:
    r = reader()
    r.feed(wire)
    out = []
    while (reply := r.gets()) is not False:
        out.append(reply_error(reply))
    return out


@pytest.mark.parametrize(("wire", "value"), [
    (b"+OK\r\n", b"OK"), (b":-42\r\n", -42), (b"$5\r\nab\r\nc\r\n", b"ab\r\nc"),
    (b"$-1\r\n", None), (b"*-1\r\n", None), (b"*0\r\n", []),
    (b"*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n$0\r\n\r\n:3\r\n", [[b"1-0", [b"k", b""]], 3]),
])
def test_the_reader_reads_every_resp2_reply_type(wire: bytes, value: object):
    assert _replies(wire + b"+next\r\n") == [value, b"next"]


def test_an_error_reply_is_its_redis_py_exception_and_a_part_reply_waits():
    (err,) = _replies(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(err, rexc.NoScriptError)
    (err,) = _replies(b"-ERR wrong number of arguments\r\n")
    assert type(err) is rexc.ResponseError and "wrong number" in str(err)
    whole = b"*2\r\n$3\r\nabc\r\n:1\r\n"
    for cut in range(len(whole)):
        assert _replies(whole[:cut]) == []
    r = reader()
    for byte in whole:  # a byte at a time: the reply comes out whole at the last one
        r.feed(bytes([byte]))
    assert r.gets() == [b"abc", 1]


@pytest.fixture
async def redis_client(request):
    url = url_for("redis", request).split("?", 1)[0]
    r = aioredis.from_url(url)
    stream = f"t{uuid.uuid4().hex[:10]}.wire"
    await r.xgroup_create(stream, "g", id="0", mkstream=True)
    yield r, stream
    await r.delete(stream)
    await r.aclose()


async def test_group_writer_batches_what_comes_in_meanwhile_and_answers_each_caller(
        redis_client):
    r, stream = redis_client
    w = GroupWriter(r, timeout=10)
    try:
        missing = f"{stream}.missing"
        calls = [w.call(pack(b"XADD", stream, b"NOMKSTREAM", b"*", b"n", i)) for i in range(20)]
        calls.append(w.call(pack(b"XADD", missing, b"NOMKSTREAM", b"*", b"n", 1)))  # nil
        calls.append(w.call(pack(b"INCR", stream)))  # WRONGTYPE: this caller's error only
        results = await asyncio.gather(*calls, return_exceptions=True)
        ids = results[:20]
        assert all(isinstance(i, bytes) for i in ids) and len(set(ids)) == 20
        assert results[20] is None
        assert isinstance(results[21], rexc.ResponseError) and "WRONGTYPE" in str(results[21])
        assert w.wire.round_trips <= 2  # the first call's round trip, then all the rest
        entries = await r.xrange(stream)
        assert [e[0] for e in entries] == ids  # done in submission order

        # acks merged per key: one XACK for every caller in the batch
        await r.xreadgroup("g", "c", {stream: ">"}, count=20)
        before = w.wire.round_trips

        def build(batch: list[bytes]) -> bytes:
            return pack(b"XACK", stream, b"g", *batch)

        acked = await asyncio.gather(*(w.merged("ack", i, build) for i in ids))
        assert w.wire.round_trips - before <= 2
        assert all(n >= 1 for n in acked)  # each caller hears its command's count
        assert (await r.xpending(stream, "g"))["pending"] == 0
    finally:
        await w.close()


async def test_closing_the_writer_fails_what_is_still_pending(redis_client):
    r, _ = redis_client
    w = GroupWriter(r, timeout=10)
    pending = asyncio.ensure_future(w.call(pack(b"PING")))
    await asyncio.sleep(0)  # the call is queued
    await w.close()
    with pytest.raises(rexc.ConnectionError, match="closed"):
        await pending
    assert await w.call(pack(b"PING")) == b"PONG"  # a later call starts a new round trip
    await w.close()
