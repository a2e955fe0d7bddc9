"""How busy the machine was during a run, measured in the same run: the calibration of latency.

A :class:`LoadProbe` is a task on the run's event loop that asks to wake every ``interval``
seconds and records how late it woke (event-loop lag). On an idle machine the lag is a
millisecond or two; when other processes take the CPU, every agent's hop waits the same way
(docs/chaos.md, "Latency budgets on a busy machine"). The runner records the figures as a
``note`` (``note: load``) in the history, and the ``latency`` checker's ``load_allowance``
option turns them into a bounded allowance on the millisecond budgets, so ``harness check``
judges a stored history the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from harness.checkers.facts import percentile

__all__ = ["LoadProbe"]


class LoadProbe:
    """Samples event-loop lag every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample(), name="load-probe")

    async def _sample(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(self.interval)
            self.lags_ms.append(max(0.0, (time.monotonic() - t0 - self.interval) * 1000))

    async def stop(self) -> dict[str, Any]:
        """Stop sampling; {loop_lag_p50_ms, loop_lag_p99_ms, loop_lag_max_ms, samples}."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        lags = self.lags_ms
        return {
            "loop_lag_p50_ms": round(percentile(lags, 50) or 0.0, 3),
            "loop_lag_p99_ms": round(percentile(lags, 99) or 0.0, 3),
            "loop_lag_max_ms": round(max(lags, default=0.0), 3),
            "samples": len(lags),
        }
