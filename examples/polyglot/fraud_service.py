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

import aio_pika
import psycopg

AGENT = os.environ.get("HARNESS_AGENT", "fraud")
HIGH_RISK_CENTS = int(os.environ.get("HIGH_RISK_CENTS", "500000"))
REQUIRED = ("message_id", "correlation_id", "causation_id", "type", "schema_version",
            "idempotency_key", "producer", "produced_at", "trace", "payload")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
PAYMENT = ("payment_id", "amount_cents", "currency", "customer_id", "merchant_id")


def derive_id(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:length]


def parse(body: bytes) -> dict | None:
    try:
        env = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(env, dict) or any(k not in env for k in REQUIRED):
        return None
    if env["type"] != "payment.accepted" or not isinstance(env["payload"], dict):
        return None
    if not TRACEPARENT.match(str((env.get("trace") or {}).get("traceparent", ""))):
        return None
    p = env["payload"]
    if any(k not in p for k in PAYMENT) or type(p["amount_cents"]) is not int:
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
    if p["amount_cents"] >= HIGH_RISK_CENTS:
        reasons.append("amount_over_limit")
    memo = str(p.get("memo", "")).lower()
    if "gift card" in memo or "urgent wire" in memo:
        reasons.append("suspicious_memo")
    if reasons:
        return "high", reasons
    return ("medium" if p["amount_cents"] >= HIGH_RISK_CENTS // 2 else "low"), reasons


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
            **{k: p[k] for k in PAYMENT}, "risk_level": level, "reasons": reasons,
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
