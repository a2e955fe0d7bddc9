"""Probes: how the harness sees the effects a black box applied (docs/black-box.md).

Each probe returns rows. ``effects`` rows have ``key``, ``correlation_id`` and ``effect``;
``ledger`` rows ``account``, ``debit`` and ``credit``. Sources: ``sql`` (run in the agent's own
schema of the run's PostgreSQL database), ``url`` (HTTP GET answering a JSON list of objects)
and ``redis`` (every key matching a pattern is one row: its value is a JSON object, and
``key`` defaults to the Redis key).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

from harness.blackbox.settings import ProbeSpec
from harness.errors import InputError

__all__ = ["ProbeRows", "run_probe"]

ProbeRows = list[dict[str, Any]]
REQUIRED = {"effects": ("key", "correlation_id", "effect"), "ledger": ("account", "debit",
                                                                      "credit")}


async def run_probe(probe: ProbeSpec, *, database_url: str | None = None,
                    schema: str | None = None, redis_url: str = "redis://127.0.0.1:6379/0",
                    expand: dict[str, str] | None = None) -> ProbeRows:
    """Read a probe's rows; raise InputError naming the probe when it cannot be read."""
    target = probe.target
    for name, value in (expand or {}).items():
        target = target.replace("{" + name + "}", value)
    try:
        if probe.source == "sql":
            rows = await _sql(target, database_url, schema)
        elif probe.source == "url":
            rows = await asyncio.to_thread(_http_get, target)
        else:
            rows = await _redis(target, redis_url)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"probe failed: {type(exc).__name__}: {str(exc)[:300]}",
                         where=probe.where) from exc
    for row in rows:
        missing = [k for k in REQUIRED[probe.kind] if k not in row]
        if missing:
            raise InputError(f"probe row lacks {missing[0]!r} (row: {str(row)[:120]})",
                             where=probe.where)
    return rows


async def _sql(query: str, url: str | None, schema: str | None) -> ProbeRows:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    if url is None:
        raise InputError("no database for the sql probe", where="database")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                     row_factory=dict_row) as conn:
        if schema:
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur = await conn.execute(query.encode("utf-8"))
        return [dict(r) for r in await cur.fetchall()]


def _http_get(url: str) -> ProbeRows:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data = json.loads(resp.read())
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError("must answer a JSON list of objects (or {rows: [...]})", where=url)
    return data


async def _redis(pattern: str, url: str) -> ProbeRows:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        rows: ProbeRows = []
        async for key in client.scan_iter(match=pattern, count=500):
            raw = await client.get(key)
            value = json.loads(raw) if raw else {}
            name = key.decode() if isinstance(key, bytes) else str(key)
            rows.append({"key": name, **value} if isinstance(value, dict) else {"key": name})
        return rows
    finally:
        await client.aclose()
