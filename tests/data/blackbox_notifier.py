"""A black-box notification agent: plain aio-pika, started by `harness run --processes` with
HARNESS_BROKER, HARNESS_QUEUE and HARNESS_PREFIX in its environment (no harness runtime)."""

import asyncio
import os
import signal

import aio_pika

from harness.envelope import Envelope, Producer


async def main() -> None:
    prefix = os.environ["HARNESS_PREFIX"]
    conn = await aio_pika.connect(os.environ["HARNESS_BROKER"])
    channel = await conn.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=8)
    queue = await channel.get_queue(os.environ["HARNESS_QUEUE"])

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        env = Envelope.from_bytes(message.body)
        p = env.payload
        kind = "receipt" if env.type == "ledger.posted" else "decline"
        out = env.child(type="notification.sent", schema_version=1,
                        payload={"payment_id": p["payment_id"], "customer_id": p["customer_id"],
                                 "kind": kind, "text": "black box says hi"},
                        producer=Producer("notification", "bb-1"))
        await channel.default_exchange.publish(
            aio_pika.Message(out.to_bytes(), headers={"x-correlation-id": out.correlation_id},
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=prefix + "orchestrator")
        await message.ack()

    await queue.consume(handle)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
