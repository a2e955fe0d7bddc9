"""The payments fraud agent as a plain aio-pika service: no harness import.

Written from docs/black-box.md and docs/envelope.md: consume HARNESS_QUEUE, publish children to
HARNESS_EXCHANGE with the type as routing key, reject (no requeue) what it will not process.
It keeps its idempotency records in its own PostgreSQL schema (HARNESS_DATABASE_SCHEMA).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import jsonschema
import psycopg

AGENT = os.environ.get("HARNESS_AGENT", "fraud")
HIGH_RISK_CENTS = int(os.environ.get("HIGH_RISK_CENTS", "500000"))
# Planted bugs for the harness's own tests (off by default): FRAUD_VALIDATE=off forwards
# payloads without checking their schema; FRAUD_RISK_FIELD=risk_score renames the field the
# authorization agent reads (the canonical incident).
VALIDATE = os.environ.get("FRAUD_VALIDATE", "on") != "off"
RISK_FIELD = os.environ.get("FRAUD_RISK_FIELD", "risk_level")
REQUIRED = ("message_id", "correlation_id", "causation_id", "type", "schema_version",
            "idempotency_key", "producer", "produced_at", "trace", "payload")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
PAYMENT = ("payment_id", "amount_cents", "currency", "customer_id", "merchant_id")
#: the input's JSON Schema, from the contracts folder this example ships with
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "contracts" / "payment.accepted"
                     / "v1.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
IDS = ("message_id", "correlation_id", "type", "idempotency_key", "produced_at")


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> None:
    raise ValueError(name)


def derive_id(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:length]


def parse(body: bytes) -> dict | None:
    """The input envelope, or None for anything docs/envelope.md says to reject."""
    if len(body) > 1_000_000:
        return None
    try:
        env = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs,
                         parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(env, dict) or any(k not in env for k in REQUIRED):
        return None
    if env.get("envelope", 1) != 1:
        return None
    for key in IDS:
        value = env[key]
        if not isinstance(value, str) or not value or "\x00" in value or len(value) > 512:
            return None
    cause = env["causation_id"]
    if cause is not None and not (isinstance(cause, str) and cause and len(cause) <= 512
                                  and "\x00" not in cause):
        return None
    version = env["schema_version"]
    if type(version) is not int or version != 1 or env["type"] != "payment.accepted":
        return None
    producer, trace = env["producer"], env["trace"]
    if not (isinstance(producer, dict) and isinstance(producer.get("agent"), str)
            and isinstance(producer.get("version"), str)):
        return None
    if not (isinstance(trace, dict) and isinstance(trace.get("traceparent"), str)
            and TRACEPARENT.match(trace["traceparent"])
            and isinstance(trace.get("tracestate", ""), str)):
        return None
    if VALIDATE and not VALIDATOR.is_valid(env["payload"]):
        return None
    if not isinstance(env["payload"], dict):
        return None
    return env


def child(parent: dict, type_: str, payload: dict) -> dict:
    step = f"{AGENT}:{type_}:0"
    _, trace_id, _, flags = parent["trace"]["traceparent"].split("-")
    return {
        "envelope": 1,
        "message_id": derive_id("msg", parent["message_id"], step),
        "correlation_id": parent["correlation_id"],
        "causation_id": parent["message_id"],
        "type": type_,
        "schema_version": 1,
        "idempotency_key": derive_id("idem", parent["idempotency_key"], step),
        "producer": {"agent": AGENT, "version": "py-1"},
        "produced_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "trace": {"traceparent": f"00-{trace_id}-{derive_id('span', trace_id, step, length=16)}"
                                 f"-{flags}", "tracestate": parent["trace"].get("tracestate", "")},
        "payload": payload,
    }


def assess(p: dict) -> tuple[str, list[str]]:
    reasons = []
    amount = p.get("amount_cents")
    amount = amount if isinstance(amount, int) else 0
    if amount >= HIGH_RISK_CENTS:
        reasons.append("amount_over_limit")
    memo = str(p.get("memo", "")).lower()
    if "gift card" in memo or "urgent wire" in memo:
        reasons.append("suspicious_memo")
    if reasons:
        return "high", reasons
    return ("medium" if amount >= HIGH_RISK_CENTS // 2 else "low"), reasons


async def main() -> None:
    db = await psycopg.AsyncConnection.connect(os.environ["HARNESS_DATABASE_URL"],
                                               autocommit=True)
    schema = os.environ["HARNESS_DATABASE_SCHEMA"].replace('"', "")
    await db.execute(f'SET search_path TO "{schema}"')
    await db.execute("CREATE TABLE IF NOT EXISTS assessed (key text PRIMARY KEY, "
                     "correlation_id text NOT NULL, effect text NOT NULL)")
    conn = await aio_pika.connect(os.environ["HARNESS_BROKER_URL"])
    channel = await conn.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=8)
    exchange = await channel.get_exchange(os.environ["HARNESS_EXCHANGE"], ensure=False)
    queue = await channel.get_queue(os.environ["HARNESS_QUEUE"], ensure=False)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        env = parse(message.body)
        if env is None:
            await message.reject(requeue=False)
            return
        p = env["payload"]
        level, reasons = assess(p)
        memo = str(p.get("memo", ""))
        out = child(env, "payment.risk_assessed", {
            **{k: p.get(k) for k in PAYMENT}, RISK_FIELD: level, "reasons": reasons,
            "memo_summary": f"customer memo of {len(memo.split())} word(s)" if memo
            else "no memo"})
        key = derive_id("effect", env["idempotency_key"], AGENT, "fraud.assess")
        await db.execute("INSERT INTO assessed VALUES (%s, %s, 'fraud.assess') "
                         "ON CONFLICT (key) DO NOTHING", (key, env["correlation_id"]))
        await exchange.publish(
            aio_pika.Message(json.dumps(out).encode(), delivery_mode=2,
                             headers={"x-correlation-id": out["correlation_id"]}),
            routing_key=out["type"])
        await message.ack()

    await queue.consume(handle)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await conn.close()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main())
