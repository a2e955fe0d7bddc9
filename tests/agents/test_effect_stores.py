"""Idempotency stores apply each key exactly once, even when many racers fire it at once.

PostgreSQL from many tasks on one pool, from several pools, and from several OS processes;
SQLite from several OS processes sharing one file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import pytest

from harness.agents.stores import LedgerRow, SqliteStore, open_store
from harness.testing import require_service

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.timeout(60)

ROWS = (LedgerRow("customer:1", debit=250), LedgerRow("merchant:1", credit=250))


@pytest.fixture
async def pg_store():
    require_service("postgresql")
    from harness.agents.pgstore import PostgresStore

    store = PostgresStore(PG_URL, namespace=f"test-{uuid.uuid4().hex[:8]}", pool_size=8)
    await store.open()
    yield store
    await store.drop()
    await store.close()


def test_namespace_is_sanitised():
    from harness.agents.pgstore import PostgresStore, sanitise_namespace

    assert sanitise_namespace("h1a2b3c4.") == "h1a2b3c4"
    assert sanitise_namespace('x"; DROP TABLE y; --') == "x_drop_table_y"
    assert len(sanitise_namespace("a" * 200)) <= 40
    store = open_store("postgresql://u@h/db", namespace="Run-1")
    assert isinstance(store, PostgresStore)
    assert store.effects_table.as_string(None) == '"harness_effects_run_1"'


async def test_postgres_applies_once_and_writes_ledger_rows_with_the_key(pg_store):
    assert await pg_store.apply("k1", agent="ledger", effect="ledger.post", correlation_id="c1",
                                data={"amount_cents": 250}, rows=ROWS)
    assert not await pg_store.apply("k1", agent="ledger", effect="ledger.post",
                                    correlation_id="c1", data={"amount_cents": 250}, rows=ROWS)
    effects = await pg_store.effects()
    assert effects == [{"key": "k1", "agent": "ledger", "effect": "ledger.post",
                        "correlation_id": "c1", "data": {"amount_cents": 250}}]
    assert await pg_store.ledger() == {"debits": 250, "credits": 250, "balanced": True, "rows": 2}
    await pg_store.reset()
    assert await pg_store.effects() == []


async def test_postgres_same_key_from_many_tasks_and_connections_applies_once(pg_store):
    from harness.agents.pgstore import PostgresStore

    others = [PostgresStore(PG_URL, namespace=pg_store.namespace, pool_size=4)
              for _ in range(3)]
    for s in others:
        await s.open()
    try:
        stores = [pg_store, *others]
        keys = [f"key-{i}" for i in range(10)]
        fired = [(k, stores[n % len(stores)]) for k in keys for n in range(12)]
        results = await asyncio.gather(*(s.apply(k, agent="a", effect="e", correlation_id=k,
                                                 rows=ROWS) for k, s in fired))
    finally:
        for s in others:
            await s.close()
    per_key = {k: 0 for k in keys}
    for (k, _), applied in zip(fired, results, strict=True):
        per_key[k] += applied
    assert per_key == {k: 1 for k in keys}
    assert await pg_store.ledger() == {"debits": 2500, "credits": 2500, "balanced": True,
                                       "rows": 20}


def _race_worker(url: str, namespace: str, keys: list[str], start_at: float) -> list[str]:
    async def go() -> list[str]:
        store = open_store(url, namespace=namespace)
        await store.open()
        while time.time() < start_at:
            await asyncio.sleep(0.001)
        applied = []
        for key in keys:
            if await store.apply(key, agent="a", effect="e", correlation_id=key, rows=ROWS):
                applied.append(key)
        await store.close()
        return applied

    return asyncio.run(go())


def _race_in_processes(url: str, namespace: str, n_proc: int = 4) -> list[list[str]]:
    keys = [f"p-{i}" for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.5
    with ctx.Pool(n_proc) as pool:
        # each process fires the same keys, some in reverse order to collide mid-list
        jobs = [pool.apply_async(_race_worker, (url, namespace, keys if i % 2 else keys[::-1],
                                                start_at)) for i in range(n_proc)]
        return [j.get(timeout=45) for j in jobs]


async def test_postgres_same_keys_from_several_processes_apply_once(pg_store):
    results = await asyncio.to_thread(_race_in_processes, PG_URL, pg_store.namespace)
    applied = [k for r in results for k in r]
    assert sorted(applied) == sorted(f"p-{i}" for i in range(40))
    assert (await pg_store.ledger())["rows"] == 80


async def test_sqlite_same_keys_from_several_processes_apply_once(tmp_path):
    path = tmp_path / "shared.sqlite3"
    first = SqliteStore(path)
    await first.open()  # create the tables before the race
    results = await asyncio.to_thread(_race_in_processes, f"sqlite:///{path}", "")
    applied = [k for r in results for k in r]
    assert sorted(applied) == sorted(f"p-{i}" for i in range(40))
    ledger = await first.ledger()
    assert ledger["rows"] == 80 and ledger["balanced"]
    await first.close()
