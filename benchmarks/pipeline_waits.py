"""Where the wall time of a ``harness <broker>`` row of bench_pipeline.py goes: the payments
pipeline on one broker with the event loop's ``select()`` timed (idle = waiting for a broker),
process CPU between the first send and ``settle()``, fetches per payment and entries per fetch,
per-hop latencies (fetched -> handler start, handler start -> settled, ack alone), the Redis
adapter's own round trips and Redis's ``INFO commandstats`` per payment.

Usage::

    PYTHONPATH=. python benchmarks/pipeline_waits.py redis://127.0.0.1:6379/0 300
    PYTHONPATH=. python benchmarks/pipeline_waits.py nats://127.0.0.1:4222 300
"""

from __future__ import annotations

import asyncio
import collections
import selectors
import statistics
import sys
import time
from typing import Any

from benchmarks.bench_pipeline import bench_harness
from harness.run import PipelineRun
from harness.transport import pulling

counts: collections.Counter[str] = collections.Counter()
waits: dict[str, list[float]] = collections.defaultdict(list)
idle = [0.0]
window: dict[str, float] = {}


class TimedSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def select(self, timeout: float | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            idle[0] += time.perf_counter() - t0


def instrument(url: str) -> None:
    run_delivery = pulling.PullSubscription._run

    async def _run(self: Any, delivery: Any) -> None:
        t0 = time.perf_counter()
        waits["fetched -> handler start"].append(t0 - getattr(delivery, "_fetched", t0))
        await run_delivery(self, delivery)
        waits["handler start -> settled"].append(time.perf_counter() - t0)

    pulling.PullSubscription._run = _run  # type: ignore[method-assign]
    if url.startswith("redis"):
        from harness.transport import redis as module
        from harness.transport import redis_wire

        round_trip = redis_wire.Wire.round_trip

        async def counted(self: Any, packed: bytes, n: int) -> list[Any]:
            counts["adapter round trips"] += 1
            counts["adapter commands"] += n
            return await round_trip(self, packed, n)

        redis_wire.Wire.round_trip = counted  # type: ignore[method-assign]
        sub_cls: Any = module._RedisSubscription
        delivery_cls: Any = module._RedisDelivery
    else:
        from harness.transport import nats as module_n

        sub_cls, delivery_cls = module_n._NatsSubscription, module_n._NatsDelivery
    fetch = sub_cls.fetch

    async def timed_fetch(self: Any, n: int) -> list[Any]:
        out = await fetch(self, n)
        now = time.perf_counter()
        counts["fetches"] += 1
        counts["fetched"] += len(out)
        for d in out:
            d._fetched = now
        return out

    sub_cls.fetch = timed_fetch
    remove = delivery_cls._remove

    async def timed_remove(self: Any) -> None:
        t0 = time.perf_counter()
        await remove(self)
        waits["ack alone"].append(time.perf_counter() - t0)

    delivery_cls._remove = timed_remove
    send, settle = PipelineRun.send, PipelineRun.settle

    async def first_send(self: Any, *a: Any, **k: Any) -> Any:
        window.setdefault("cpu0", time.process_time())
        window.setdefault("idle0", idle[0])
        return await send(self, *a, **k)

    async def settled(self: Any, *a: Any, **k: Any) -> Any:
        ok = await settle(self, *a, **k)
        window["cpu1"], window["idle1"] = time.process_time(), idle[0]
        return ok

    PipelineRun.send, PipelineRun.settle = first_send, settled  # type: ignore[method-assign]


async def main(url: str, n: int) -> None:
    instrument(url)
    stats_before: dict[str, Any] = {}
    if url.startswith("redis"):
        import redis.asyncio as aioredis

        r = aioredis.from_url(url.split("?", 1)[0])
        stats_before = await r.info("commandstats")
    wall = await bench_harness(url, n, record=True, seed=1)
    cpu, waited = window["cpu1"] - window["cpu0"], window["idle1"] - window["idle0"]
    print(f"{url} n={n}: wall {wall:.2f} s ({n / wall:.0f} payments/s), CPU in the window "
          f"{cpu:.2f} s, loop idle in select() {waited:.2f} s ({waited / wall:.0%})")
    for name, value in sorted(counts.items()):
        print(f"  {name}: {value} ({value / n:.2f} per payment)")
    for name, values in waits.items():
        values.sort()
        print(f"  {name}: median {statistics.median(values) * 1000:.2f} ms, "
              f"p90 {values[int(len(values) * 0.9)] * 1000:.2f} ms")
    if stats_before:
        after = await r.info("commandstats")
        for cmd in sorted(after):
            calls = after[cmd]["calls"] - stats_before.get(cmd, {"calls": 0})["calls"]
            if calls:
                print(f"  redis {cmd.removeprefix('cmdstat_')}: {calls / n:.2f} per payment")
        await r.aclose()


if __name__ == "__main__":
    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return asyncio.SelectorEventLoop(TimedSelector())

    asyncio.set_event_loop_policy(Policy())
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0",
                     int(sys.argv[2]) if len(sys.argv) > 2 else 300))
