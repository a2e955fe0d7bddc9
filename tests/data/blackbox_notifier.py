"""A black-box notification agent for `harness run --processes`: plain aio-pika, no harness
import, the contract of docs/black-box.md (HARNESS_BROKER_URL, HARNESS_QUEUE, HARNESS_EXCHANGE;
publishes with routing key = the envelope's type)."""

import asyncio
import datetime
import hashlib
import json
import os
import signal

import aio_pika


def did(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def child(env: dict, agent: str, mtype: str, payload: dict) -> dict:
    step = f"{agent}:{mtype}:0"
    _, tid, _, flags = env["trace"]["traceparent"].split("-")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"envelope": 1, "message_id": did("msg", env["message_id"], step),
            "correlation_id": env["correlation_id"], "causation_id": env["message_id"],
            "type": mtype, "schema_version": 1,
            "idempotency_key": did("idem", env["idempotency_key"], step),
            "producer": {"agent": agent, "version": "bb-1"}, "produced_at": now,
            "trace": {"traceparent": f"00-{tid}-{did('span', tid, step, length=16)}-{flags}",
                      "tracestate": env["trace"].get("tracestate", "")},
            "payload": payload}


async def main() -> None:
    agent = os.environ["HARNESS_AGENT"]
    conn = await aio_pika.connect(os.environ["HARNESS_BROKER_URL"])
    channel = await conn.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=8)
    exchange = await channel.get_exchange(os.environ["HARNESS_EXCHANGE"], ensure=False)
    queue = await channel.get_queue(os.environ["HARNESS_QUEUE"], ensure=False)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            env = json.loads(message.body)
            p = env["payload"]
            assert env["type"] in ("ledger.posted", "payment.declined")
            assert isinstance(p["payment_id"], str) and isinstance(p["customer_id"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            await message.reject(requeue=False)
            return
        kind = "receipt" if env["type"] == "ledger.posted" else "decline"
        out = child(env, agent, "notification.sent",
                    {"payment_id": p["payment_id"], "customer_id": p["customer_id"],
                     "kind": kind, "text": "black box says hi"})
        await exchange.publish(
            aio_pika.Message(json.dumps(out).encode(),
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=out["type"])
        await message.ack()

    await queue.consume(handle)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
