"""Group commit in the pull transports: calls of one loop turn share a round trip, and each
caller still gets its own result (or its own error)."""

from __future__ import annotations

import asyncio

import pytest

from harness.transport.pulling import Coalescer


async def test_calls_of_one_loop_turn_share_one_flush_per_key():
    flushes: list[tuple[str, list[int]]] = []

    async def flush(key: str, items: list[int]) -> list[object]:
        flushes.append((key, list(items)))
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]

    c = Coalescer(flush)
    results = await asyncio.gather(c.submit("a", 1), c.submit("b", 2), c.submit("a", 3),
                                   c.submit("a", -1), return_exceptions=True)
    assert sorted(flushes) == [("a", [1, 3, -1]), ("b", [2])]
    assert results[:3] == [10, 20, 30]
    assert isinstance(results[3], ValueError) and str(results[3]) == "bad -1"
    assert await c.submit("a", 4) == 40  # a later turn: a flush of its own
    assert flushes[-1] == ("a", [4])


async def test_a_failed_round_trip_fails_every_caller_of_it_and_batches_are_bounded():
    sizes: list[int] = []

    async def flush(key: str, items: list[int]) -> list[int]:
        sizes.append(len(items))
        if key == "down":
            raise ConnectionError("broker gone")
        return items

    c = Coalescer(flush, max_batch=10)
    assert await asyncio.gather(*(c.submit("ok", i) for i in range(25))) == list(range(25))
    assert sorted(sizes) == [5, 10, 10]
    for outcome in await asyncio.gather(c.submit("down", 1), c.submit("down", 2),
                                        return_exceptions=True):
        assert isinstance(outcome, ConnectionError)
    with pytest.raises(ConnectionError):
        await c.submit("down", 3)
