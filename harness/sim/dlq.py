"""An incident from a dead-letter queue: its messages become the inputs, each fed to the agent
that consumes its type; the recorded failure is that they were dead-lettered.

Sources: a JSON-lines file, one message per line (``{"body": base64, "headers": {...}}``; the
harness's own dead letters also carry ``reason``, ``detail``, ``queue``), or a RabbitMQ
dead-letter queue (``amqp://...`` with ``--queue``) read without consuming it: every message is
fetched unacknowledged and returned to the queue afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from pathlib import Path
from typing import Any

from harness.chaos.inputs import item_from_dict
from harness.envelope import Envelope
from harness.errors import EnvelopeError, InputError
from harness.sim.evidence import Incident
from harness.workload import WorkItem

__all__ = ["from_dlq", "peek_amqp", "read_dlq_file"]


def read_dlq_file(path: Path) -> list[dict[str, Any]]:
    """Messages of a dead-letter queue written as JSON lines: [{body: bytes, headers, ...}]."""
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", where=str(path)) from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            raw = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise InputError(f"not a dead letter {{body: base64, headers}}: {what}",
                             where=where) from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("body"), str):
            raise InputError("not a dead letter {body: base64, headers}: needs a string 'body'",
                             where=where)
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict):
            raise InputError("'headers' must be an object", where=where)
        try:
            body = base64.b64decode(raw["body"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"'body' is not base64: {exc}", where=where) from exc
        reason = raw.get("reason") or headers.get("x-harness-reason")
        out.append({"body": body, "headers": headers,
                    "reason": reason if isinstance(reason, str) else None})
    return out


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


async def peek_amqp(url: str, queue: str, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """Every message in a RabbitMQ queue, left in the queue (fetched unacked, then returned)."""
    import aio_pika

    try:
        conn = await aio_pika.connect_robust(url, timeout=10)
    except Exception as exc:
        raise InputError(f"cannot connect: {type(exc).__name__}: {exc}", where=queue) from exc
    taken: list[Any] = []
    out: list[dict[str, Any]] = []
    try:
        channel = await conn.channel()
        q = await channel.get_queue(queue, ensure=True)
        while len(taken) < limit:
            msg = await q.get(no_ack=False, fail=False)
            if msg is None:
                break
            taken.append(msg)
            headers = {k: (v.decode() if isinstance(v, bytes) else v)
                       for k, v in (msg.headers or {}).items()}
            out.append({"body": bytes(msg.body), "headers": headers,
                        "reason": headers.get("x-harness-reason")})
        for msg in taken:  # give every message back: read, not consumed
            await msg.nack(requeue=True)
    finally:
        await conn.close()
    return out


def _inputs(messages: list[dict[str, Any]], where: str) -> tuple[list[WorkItem], list[str]]:
    items: list[WorkItem] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for i, m in enumerate(messages):
        try:
            env = Envelope.from_bytes(m["body"])
        except EnvelopeError:
            skipped.append(f"message {i} (not an envelope: {m.get('reason') or 'no reason'})")
            continue
        if env.correlation_id in seen:
            continue
        seen.add(env.correlation_id)
        items.append(item_from_dict({"correlation_id": env.correlation_id, "kind": "valid",
                                     "expect": "completed", "envelope": env.to_dict()},
                                    f"{where}[{i}]"))
    return items, skipped


def from_dlq(source: str, *, pipeline: str | Path | None, queue: str | None = None,
             variants: dict[str, str] | None = None) -> Incident:
    """An incident from a dead-letter queue file or a RabbitMQ dead-letter queue."""
    if pipeline is None or not Path(pipeline).is_file():
        raise InputError("a dead-letter queue does not name its pipeline: give --pipeline "
                         "PIPELINE.yaml", where="--pipeline")
    if source.startswith(("amqp://", "amqps://")):
        if not queue:
            raise InputError("give the dead-letter queue's name (--queue NAME.dlq)",
                             where="--queue")
        messages = asyncio.run(peek_amqp(source, queue))
        where = queue
    else:
        messages = read_dlq_file(Path(source))
        where = source
    if not messages:
        raise InputError("the dead-letter queue is empty", where=where)
    inputs, skipped = _inputs(messages, where)
    if not inputs:
        raise InputError("no message of the dead-letter queue is an envelope to replay",
                         where=where)
    reasons = sorted({str(m.get("reason")) for m in messages if m.get("reason")})
    return Incident(pipeline=Path(pipeline).resolve(), inputs=inputs, faults=[],
                    expect={"valid": False, "caught_by": ["outcomes"]}, source=where,
                    kind="dlq", title=f"incident from dead letters ({', '.join(reasons) or '?'})",
                    variants={a: r for a, r in (variants or {}).items() if r},
                    probes=["no_loss", "outcomes", "dead_letters", "wire"], skipped=skipped)
