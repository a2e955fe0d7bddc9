"""Idempotency stores: apply an effect at most once per idempotency key.

Every store enforces uniqueness with the storage's own atomic primitive (a unique constraint in
SQL, a lock-guarded dict in memory), never check-then-insert, so two concurrent deliveries of the
same message cannot both apply. An effect may carry double-entry ledger rows, written in the
same transaction as the key.

URLs: ``memory``, ``sqlite:///relative.db`` / ``sqlite:////abs/path.db`` (or a bare path),
``postgresql://...``.
"""

from __future__ import annotations

import abc
import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError, ServiceUnavailable

#: the fields of each effect a run's end-of-run snapshot records
SNAPSHOT_FIELDS = ("key", "agent", "effect", "correlation_id")

__all__ = ["EffectStore", "LedgerRow", "MemoryStore", "SqliteStore", "open_store"]


@dataclass(frozen=True)
class LedgerRow:
    """One side of a double-entry posting (amounts in minor units)."""

    account: str
    debit: int = 0
    credit: int = 0


class EffectStore(abc.ABC):
    """Where effects are applied exactly once."""

    url: str = ""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and create tables."""

    @abc.abstractmethod
    async def apply(self, key: str, *, agent: str, effect: str, correlation_id: str,
                    data: Any = None, rows: tuple[LedgerRow, ...] = ()) -> bool:
        """Apply the effect unless ``key`` was applied before; True when applied now."""

    @abc.abstractmethod
    async def effects(self) -> list[dict[str, Any]]:
        """Every applied effect: {key, agent, effect, correlation_id, data}."""

    @abc.abstractmethod
    async def ledger(self) -> dict[str, Any]:
        """{"debits": int, "credits": int, "balanced": bool, "rows": int}."""

    async def effect_pages(self, size: int = 10_000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every applied effect as {key, agent, effect, correlation_id}, in pages of ``size``
        (a store on disk reads one page at a time; this default reads :meth:`effects`)."""
        rows = [{k: e.get(k) for k in SNAPSHOT_FIELDS} for e in await self.effects()]
        for i in range(0, len(rows), size):
            yield rows[i:i + size]

    async def reset(self) -> None:  # noqa: B027
        """Remove every effect and ledger row (tests and fresh runs)."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""


def _ledger_summary(debits: int, credits: int, rows: int) -> dict[str, Any]:
    return {"debits": debits, "credits": credits, "balanced": debits == credits, "rows": rows}


class MemoryStore(EffectStore):
    """In-process store (a dict under a lock)."""

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._effects: dict[str, dict[str, Any]] = {}
        self._rows: list[tuple[str, LedgerRow]] = []

    async def apply(self, key: str, *, agent: str, effect: str, correlation_id: str,
                    data: Any = None, rows: tuple[LedgerRow, ...] = ()) -> bool:
        with self._lock:
            if key in self._effects:
                return False
            self._effects[key] = {"key": key, "agent": agent, "effect": effect,
                                  "correlation_id": correlation_id, "data": data}
            self._rows.extend((key, r) for r in rows)
            return True

    async def effects(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._effects.values())

    async def ledger(self) -> dict[str, Any]:
        with self._lock:
            return _ledger_summary(sum(r.debit for _, r in self._rows),
                                   sum(r.credit for _, r in self._rows), len(self._rows))

    async def reset(self) -> None:
        with self._lock:
            self._effects.clear()
            self._rows.clear()


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS harness_effects (
  key TEXT PRIMARY KEY, agent TEXT NOT NULL, effect TEXT NOT NULL,
  correlation_id TEXT NOT NULL, data TEXT);
CREATE TABLE IF NOT EXISTS harness_ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL REFERENCES harness_effects(key),
  account TEXT NOT NULL, debit INTEGER NOT NULL, credit INTEGER NOT NULL);
"""


_INSERT_EFFECT = ("INSERT INTO harness_effects(key, agent, effect, correlation_id, data) "
                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING")


class SqliteStore(EffectStore):
    """SQLite store; the key's PRIMARY KEY makes the insert the atomic check.

    Several processes may share the file (WAL mode, busy timeout). Commits are not synced to
    the disk (``synchronous=OFF``): a committed effect survives its process being killed (the
    operating system holds the write), which is the crash the harness injects, but not the
    machine losing power. Syncing cost every run a blocking fsync at each WAL checkpoint.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        # Switching to WAL and creating the tables take locks that SQLite's busy timeout does
        # not always wait for when several processes open a new file at once: retry briefly.
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")
                conn.executescript(_SQLITE_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    conn.close()
                    raise
                await asyncio.sleep(0.02)
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("SqliteStore used before open()")
        return self._conn

    def _apply_sync(self, key: str, agent: str, effect: str, correlation_id: str,
                    data: Any, rows: tuple[LedgerRow, ...]) -> bool:
        conn = self._db()
        values = (key, agent, effect, correlation_id, json.dumps(data))
        with self._lock:
            if not rows:  # one statement is its own transaction (autocommit): no BEGIN/COMMIT
                return conn.execute(_INSERT_EFFECT, values).rowcount == 1
            conn.execute("BEGIN IMMEDIATE")
            try:
                applied = conn.execute(_INSERT_EFFECT, values).rowcount == 1
                if applied:
                    conn.executemany(
                        "INSERT INTO harness_ledger(key, account, debit, credit) VALUES (?,?,?,?)",
                        [(key, r.account, r.debit, r.credit) for r in rows])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return applied

    async def apply(self, key: str, *, agent: str, effect: str, correlation_id: str,
                    data: Any = None, rows: tuple[LedgerRow, ...] = ()) -> bool:
        return self._apply_sync(key, agent, effect, correlation_id, data, rows)

    async def effects(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db().execute(
                "SELECT key, agent, effect, correlation_id, data FROM harness_effects "
                "ORDER BY rowid")
            return [{"key": k, "agent": a, "effect": e, "correlation_id": c,
                     "data": json.loads(d) if d else None} for k, a, e, c, d in cur.fetchall()]

    async def effect_pages(self, size: int = 10_000) -> AsyncIterator[list[dict[str, Any]]]:
        after = 0
        while True:
            with self._lock:  # one page per lock (never held across a yield)
                rows = self._db().execute(
                    "SELECT rowid, key, agent, effect, correlation_id FROM harness_effects "
                    "WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, size)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [{"key": k, "agent": a, "effect": e, "correlation_id": c}
                   for _, k, a, e, c in rows]

    async def ledger(self) -> dict[str, Any]:
        with self._lock:
            d, c, n = self._db().execute(
                "SELECT COALESCE(SUM(debit),0), COALESCE(SUM(credit),0), COUNT(*) "
                "FROM harness_ledger").fetchone()
        return _ledger_summary(int(d), int(c), int(n))

    async def reset(self) -> None:
        with self._lock:
            self._db().executescript("DELETE FROM harness_ledger; DELETE FROM harness_effects;")

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def open_store(url: str, *, namespace: str = "") -> EffectStore:
    """A store for ``url``: ``memory``, ``sqlite:///path`` or a path, ``postgresql://...``.

    Args:
        url: where effects live.
        namespace: table-name suffix for PostgreSQL so concurrent runs do not share rows.
    """
    if url in ("memory", "memory://"):
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        from harness.agents.pgstore import PostgresStore

        return PostgresStore(url, namespace=namespace)
    if url.startswith("sqlite://"):
        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute/path.db
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
        return SqliteStore(path or "harness.sqlite3")
    if "://" in url:
        raise InputError(f"unsupported store URL {url!r} (use memory, sqlite:///PATH or "
                         "postgresql://...)", where="--store")
    return SqliteStore(url)


async def check_store(store: EffectStore) -> None:
    """Open the store, mapping connection failures to ServiceUnavailable."""
    try:
        await store.open()
    except (OSError, sqlite3.Error) as exc:
        raise ServiceUnavailable(f"cannot open store {store.url}: {exc}") from exc
    await asyncio.sleep(0)
