"""The virtual-clock loop: timers cost no wall time, same-instant order follows the seed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from harness.sim import SimLoop, SimulationDeadlock, run_simulated
from harness.sim.loop import SimulationLimit


def test_an_hour_of_sleeping_takes_no_wall_time():
    async def main() -> float:
        t0 = time.monotonic()
        await asyncio.sleep(3600)
        return time.monotonic() - t0

    wall0 = time.perf_counter()
    slept, stats = run_simulated(main, seed=1)
    assert wall0 and time.perf_counter() - wall0 < 5
    assert slept == pytest.approx(3600, abs=0.01)
    assert stats.virtual_s >= 3600 and stats.ratio > 100


def test_timeouts_fire_on_the_virtual_clock():
    async def main() -> str:
        try:
            async with asyncio.timeout(0.25):
                await asyncio.sleep(10)
        except TimeoutError:
            return f"{asyncio.get_running_loop().time():.3f}"
        return "no timeout"

    fired, _ = run_simulated(main, seed=1)
    assert float(fired) == pytest.approx(0.25, abs=0.001)


def _same_instant_order(seed: int) -> list[int]:
    async def main() -> list[int]:
        order: list[int] = []

        async def worker(i: int) -> None:
            await asyncio.sleep(0.5)  # every worker falls due at the same virtual instant
            order.append(i)

        await asyncio.gather(*(worker(i) for i in range(12)))
        return order

    return run_simulated(main, seed=seed)[0]


def test_same_instant_order_is_a_function_of_the_seed():
    assert _same_instant_order(3) == _same_instant_order(3)
    orders = {tuple(_same_instant_order(s)) for s in range(6)}
    assert len(orders) > 1  # seeds explore different interleavings
    assert all(sorted(o) == list(range(12)) for o in orders)


def test_wall_clock_uuid_and_random_are_pinned_to_the_seed():
    async def main() -> tuple[float, str, float]:
        import random

        await asyncio.sleep(2)
        return time.time(), uuid.uuid4().hex, random.random()

    a, _ = run_simulated(main, seed=9)
    b, _ = run_simulated(main, seed=9)
    c, _ = run_simulated(main, seed=10)
    assert a == b and a[1] != c[1]
    assert a[0] == pytest.approx(1_767_225_602, abs=0.01)  # SIM_EPOCH + 2 s
    assert time.time() > 1_767_225_602 - 10**9  # the real clock is back afterwards


def test_executor_calls_run_inline_and_blocking_sleep_advances_the_clock():
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        value = await asyncio.to_thread(lambda: 41 + 1)
        time.sleep(1.5)  # blocks the loop: 1.5 virtual seconds pass
        return loop.time(), value

    (now, value), stats = run_simulated(main, seed=1)
    assert value == 42 and stats.inline_calls == 1
    assert now >= 1.5


def test_a_deadlock_is_an_error_not_a_hang():
    async def main() -> None:
        await asyncio.Event().wait()  # nothing will ever set it

    with pytest.raises(SimulationDeadlock, match="deadlocked"):
        run_simulated(main, seed=1)


def test_a_task_that_retries_forever_hits_the_limit():
    loop = SimLoop(1, limit=60)

    async def main() -> None:
        while True:
            await asyncio.sleep(1)

    with pytest.raises(SimulationLimit):
        loop.run_until_complete(main())
    loop.close()
