"""Black boxes that misbehave, for the robustness tests (plain aio-pika, no harness import).

    python misbehaving_agent.py MODE
MODE: never_ack (consumes, never settles), crash_on_start (exits 1 at once), garbage
(publishes bytes that are not an envelope for every input, then acks), never_connect (sleeps).
"""

import asyncio
import os
import signal
import sys

import aio_pika


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
        await exchange.publish(aio_pika.Message(b"\xff{not an envelope"),
                               routing_key=os.environ.get("GARBAGE_TYPE", "payment.risk_assessed"))
        await message.ack()

    await queue.consume(handle)
    await stop.wait()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
