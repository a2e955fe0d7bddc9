"""The PostgreSQL idempotency store (psycopg 3, async).

The effect's key is the PRIMARY KEY of ``harness_effects_<namespace>``; ``apply`` inserts it
with ``ON CONFLICT DO NOTHING RETURNING key`` and writes the ledger rows in the same
transaction, so two deliveries of one message racing on different connections (or processes)
apply it exactly once: the loser waits on the winner's row lock and then inserts nothing.

Tables are namespaced (``namespace`` sanitised to ``[a-z0-9_]``) so runs sharing a database do
not share rows. A small pool of connections serves concurrent handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from harness.agents.stores import EffectStore, LedgerRow, _ledger_summary
from harness.errors import ServiceUnavailable
from harness.redact import redact_url

__all__ = ["PostgresStore", "sanitise_namespace"]

_PG_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OSError)


def sanitise_namespace(namespace: str) -> str:
    """``namespace`` as a safe table-name suffix (lowercase ``[a-z0-9_]``, at most 40 chars)."""
    clean = re.sub(r"[^a-z0-9_]+", "_", namespace.lower()).strip("_")
    if len(clean) > 40:
        clean = clean[:31] + "_" + hashlib.sha1(clean.encode()).hexdigest()[:8]
    return clean


class PostgresStore(EffectStore):
    """Effects and ledger rows in PostgreSQL.

    Args:
        url: ``postgresql://user@host:port/db``.
        namespace: table suffix (``harness_effects_<ns>``, ``harness_ledger_<ns>``).
        pool_size: connections kept open for concurrent ``apply`` calls.
    """

    def __init__(self, url: str, *, namespace: str = "", pool_size: int = 4) -> None:
        self.url = url
        self.namespace = sanitise_namespace(namespace)
        suffix = f"_{self.namespace}" if self.namespace else ""
        self.effects_table = sql.Identifier(f"harness_effects{suffix}")
        self.ledger_table = sql.Identifier(f"harness_ledger{suffix}")
        self.pool_size = max(1, pool_size)
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] | None = None
        self._all: list[psycopg.AsyncConnection[Any]] = []
        self._opening = asyncio.Lock()

    # -- connections ---------------------------------------------------------------------------
    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=False,
                                                         connect_timeout=10)
        except _PG_ERRORS as exc:
            raise ServiceUnavailable(f"cannot connect to PostgreSQL at {redact_url(self.url)}: "
                                     f"{exc}") from exc
        self._all.append(conn)
        return conn

    async def open(self) -> None:
        async with self._opening:
            if self._idle is not None:
                return
            conn = await self._connect()
            async with conn.transaction():
                # serialise CREATE TABLE IF NOT EXISTS across processes (it races on pg_type)
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                   (self.effects_table.as_string(conn),))
                await conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {e} (key TEXT PRIMARY KEY, agent TEXT NOT NULL, "
                    "effect TEXT NOT NULL, correlation_id TEXT NOT NULL, data JSONB, "
                    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").format(
                        e=self.effects_table))
                await conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {lt} (id BIGSERIAL PRIMARY KEY, "
                    "key TEXT NOT NULL REFERENCES {e}(key), account TEXT NOT NULL, "
                    "debit BIGINT NOT NULL, credit BIGINT NOT NULL)").format(
                        lt=self.ledger_table, e=self.effects_table))
            idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
            idle.put_nowait(conn)
            for _ in range(self.pool_size - 1):
                idle.put_nowait(await self._connect())
            self._idle = idle

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._idle is None:
            await self.open()
        assert self._idle is not None
        conn = await self._idle.get()
        try:
            if conn.closed:
                self._all.remove(conn)
                conn = await self._connect()
            yield conn
        finally:
            self._idle.put_nowait(conn)

    # -- the interface -------------------------------------------------------------------------
    async def apply(self, key: str, *, agent: str, effect: str, correlation_id: str,
                    data: Any = None, rows: tuple[LedgerRow, ...] = ()) -> bool:
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(
                sql.SQL("INSERT INTO {e} (key, agent, effect, correlation_id, data) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING "
                        "RETURNING key").format(e=self.effects_table),
                (key, agent, effect, correlation_id, Jsonb(data)))
            applied = await cur.fetchone() is not None
            if applied and rows:
                async with conn.cursor() as c:
                    await c.executemany(
                        sql.SQL("INSERT INTO {lt} (key, account, debit, credit) "
                                "VALUES (%s, %s, %s, %s)").format(lt=self.ledger_table),
                        [(key, r.account, r.debit, r.credit) for r in rows])
        return applied

    async def effects(self) -> list[dict[str, Any]]:
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(sql.SQL(
                "SELECT key, agent, effect, correlation_id, data FROM {e} "
                "ORDER BY applied_at, key").format(e=self.effects_table))
            return [{"key": k, "agent": a, "effect": e, "correlation_id": c, "data": d}
                    for k, a, e, c, d in await cur.fetchall()]

    async def ledger(self) -> dict[str, Any]:
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(sql.SQL(
                "SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0), COUNT(*) "
                "FROM {lt}").format(lt=self.ledger_table))
            row = await cur.fetchone()
        assert row is not None
        return _ledger_summary(int(row[0]), int(row[1]), int(row[2]))

    async def reset(self) -> None:
        async with self._conn() as conn, conn.transaction():
            await conn.execute(sql.SQL("TRUNCATE {lt}, {e}").format(
                lt=self.ledger_table, e=self.effects_table))

    async def drop(self) -> None:
        """Drop this namespace's tables (tests and throwaway runs)."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {lt}, {e}").format(
                lt=self.ledger_table, e=self.effects_table))

    async def close(self) -> None:
        conns, self._all = self._all, []
        self._idle = None
        for conn in conns:
            with contextlib.suppress(*_PG_ERRORS):
                await conn.close()
