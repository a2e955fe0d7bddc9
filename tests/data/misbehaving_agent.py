"""Black boxes that misbehave, for the robustness tests (plain aio-pika, no harness import).

    python misbehaving_agent.py MODE
MODE: never_ack (consumes, never settles), crash_on_start (exits 1 at once), garbage
(publishes bytes that are not an envelope for every input, then acks), never_connect (sleeps),
notify (behaves: answers each payment.requested with a notification.sent receipt),
ack_first (as notify, but acks its input before publishing the answer: lost on a crash between).
"""

import asyncio
import hashlib
import json
import os
import signal
import sys

import aio_pika


def did(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


async def main(mode: str) -> None:
    if mode == "crash_on_start":
        print("crashing on start", file=sys.stderr)
        sys.exit(1)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if mode == "never_connect":
        await stop.wait()
        return
    conn = await aio_pika.connect(os.environ["HARNESS_BROKER_URL"])
    channel = await conn.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(os.environ["HARNESS_EXCHANGE"], ensure=False)
    queue = await channel.get_queue(os.environ["HARNESS_QUEUE"], ensure=False)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if mode == "never_ack":
            return
        if mode in ("notify", "ack_first"):
            await notify(message)
            return
        await exchange.publish(aio_pika.Message(b"\xff{not an envelope"),
                               routing_key=os.environ.get("GARBAGE_TYPE", "payment.risk_assessed"))
        await message.ack()

    async def notify(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            env = json.loads(message.body)
            p = env["payload"]
            assert env["type"] == "payment.requested" and isinstance(p["customer_id"], str)
        except Exception:
            await message.reject(requeue=False)
            return
        step = f"{os.environ['HARNESS_AGENT']}:notification.sent:0"
        _, tid, _, flags = env["trace"]["traceparent"].split("-")
        out = {"envelope": 1, "message_id": did("msg", env["message_id"], step),
               "correlation_id": env["correlation_id"], "causation_id": env["message_id"],
               "type": "notification.sent", "schema_version": 1,
               "idempotency_key": did("idem", env["idempotency_key"], step),
               "producer": {"agent": os.environ["HARNESS_AGENT"], "version": "t1"},
               "produced_at": "2026-01-01T00:00:00.000000Z",
               "trace": {"traceparent": f"00-{tid}-{did('span', tid, step, length=16)}-{flags}",
                         "tracestate": ""},
               "payload": {"payment_id": p["payment_id"], "customer_id": p["customer_id"],
                           "kind": "receipt"}}
        if mode == "ack_first":
            await message.ack()
        await exchange.publish(aio_pika.Message(json.dumps(out).encode()),
                               routing_key="notification.sent")
        if mode != "ack_first":
            await message.ack()

    await queue.consume(handle)
    await stop.wait()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
