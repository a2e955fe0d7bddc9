"""Idempotency stores apply an effect at most once per key, even under concurrent retries."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.agents.stores import LedgerRow, MemoryStore, SqliteStore, open_store
from harness.errors import InputError

ROWS = (LedgerRow("customer:1", debit=500), LedgerRow("merchant:1", credit=500))


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_second_apply_of_a_key_is_a_duplicate(store):
    assert await store.apply("k1", agent="ledger", effect="post", correlation_id="c", rows=ROWS)
    assert not await store.apply("k1", agent="ledger", effect="post", correlation_id="c",
                                 rows=ROWS)
    assert [e["key"] for e in await store.effects()] == ["k1"]
    assert await store.ledger() == {"debits": 500, "credits": 500, "balanced": True, "rows": 2}


async def test_concurrent_applies_of_one_key_apply_once(store):
    results = await asyncio.gather(*[
        store.apply("same", agent="ledger", effect="post", correlation_id="c", rows=ROWS)
        for _ in range(50)])
    assert results.count(True) == 1
    assert (await store.ledger())["rows"] == 2


def test_sqlite_unique_constraint_holds_across_connections(tmp_path):
    path = tmp_path / "shared.sqlite3"

    def worker(_: int) -> bool:
        async def go() -> bool:
            s = SqliteStore(path)  # its own connection, like another process
            await s.open()
            try:
                return await s.apply("k", agent="a", effect="e", correlation_id="c", rows=ROWS)
            finally:
                await s.close()
        return asyncio.run(go())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(32)))
    assert results.count(True) == 1


def test_store_urls(tmp_path):
    assert isinstance(open_store("memory"), MemoryStore)
    s = open_store(f"sqlite:///{tmp_path}/x.sqlite3")
    assert isinstance(s, SqliteStore) and str(s.path) == f"{tmp_path}/x.sqlite3"
    with pytest.raises(InputError, match="--store"):
        open_store("mongodb://x")
