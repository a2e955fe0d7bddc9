"""An asyncio event loop on a virtual clock, with seeded ordering of same-instant timers.

:class:`SimLoop` is a selector event loop whose ``time()`` is a counter. When nothing is ready
to run, the loop would sleep until its earliest timer; instead the counter jumps to that timer,
so delays, timeouts and budgets cost no wall time and fire in a fixed order. Timers due at the
same virtual instant run in an order drawn from the seed (not in heap order), so different
seeds explore different interleavings and the same seed always picks the same one.

What the loop refuses to do nondeterministically:

- ``run_in_executor`` (and so ``asyncio.to_thread``, ``getaddrinfo``) runs the function inline,
  on the loop's thread, at the current virtual instant: no thread pool;
- a loop with nothing ready, no timer and no I/O is deadlocked: :class:`SimulationDeadlock`
  (a real loop would hang forever);
- ``time.sleep`` inside the simulation (see :mod:`harness.sim.world`) advances the virtual
  clock by the time the loop would have been blocked.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import selectors
from asyncio import events
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

__all__ = ["SimLoop", "SimulationDeadlock", "SimulationLimit"]


class SimulationDeadlock(RuntimeError):
    """Every task waits for something that no timer and no I/O will ever bring."""


class SimulationLimit(RuntimeError):
    """The virtual clock passed the simulation's limit."""


class _SeededTimer(events.TimerHandle):
    """A timer ordered by (deadline, seeded draw, creation order) instead of deadline alone."""

    __slots__ = ("_key",)

    def __init__(self, when: float, key: tuple[float, int], callback: Callable[..., Any],
                 args: tuple[Any, ...], loop: asyncio.AbstractEventLoop,
                 context: Any = None) -> None:
        super().__init__(when, callback, args, loop, context)
        self._key = (when, *key)

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, _SeededTimer):
            return self._key < other._key
        return super().__lt__(other)

    def __le__(self, other: Any) -> bool:
        if isinstance(other, _SeededTimer):
            return self._key <= other._key
        return super().__le__(other)

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, _SeededTimer):
            return self._key > other._key
        return super().__gt__(other)

    def __ge__(self, other: Any) -> bool:
        if isinstance(other, _SeededTimer):
            return self._key >= other._key
        return super().__ge__(other)

    def __eq__(self, other: Any) -> bool:
        return self is other

    __hash__ = events.Handle.__hash__


class _VirtualSelector:
    """Polls the real selector without blocking; a wait becomes a jump of the virtual clock."""

    def __init__(self, real: selectors.BaseSelector, loop: SimLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise SimulationDeadlock(
                f"simulation deadlocked at virtual t={self._loop.time():.6f}s: every task waits "
                "and no timer is set (is something waiting on a real socket or thread?)")
        self._loop.jump_to_next_timer(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class SimLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock.

    Args:
        seed: orders timers that fall due at the same virtual instant.
        start: the clock's first reading (seconds).
        tick: virtual seconds each pass of the loop costs (so a task that polls the clock
            while yielding with ``sleep(0)`` still sees time pass).
        limit: virtual seconds after which the run is stopped with SimulationLimit (a task
            retrying forever on a virtual clock would otherwise never end).

    Attributes:
        jumps: how many times the clock jumped forward.
        inline_calls: executor calls run inline.
    """

    def __init__(self, seed: int = 0, *, start: float = 0.0, tick: float = 1e-6,
                 limit: float = 6 * 3600.0) -> None:
        super().__init__()
        self._now = float(start)
        self._start = float(start)
        self._tick = tick
        self._limit = float(start) + limit
        self._rng = random.Random(f"simloop:{seed}")
        self._timer_seq = 0
        self.jumps = 0
        self.inline_calls = 0
        self._selector = _VirtualSelector(  # type: ignore[assignment,has-type]
            self._selector, self)  # type: ignore[arg-type,has-type]

    # -- the clock -------------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the loop was made."""
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        """Move the clock forward (a blocking call that held the loop for ``seconds``)."""
        if seconds > 0:
            self._now += seconds

    def jump_to_next_timer(self, timeout: float) -> None:
        """Nothing is ready: move the clock to the earliest timer (at most ``timeout`` on)."""
        target = self._now + timeout
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if scheduled:
            target = min(target, max(self._now, scheduled[0]._when))
        self._now = target
        self.jumps += 1

    def _run_once(self) -> None:
        self._now += self._tick
        if self._now > self._limit:
            raise SimulationLimit(f"simulation passed its limit of {self._limit - self._start:.0f} "
                                  "virtual seconds (something retries or waits forever)")
        super()._run_once()  # type: ignore[misc]

    # -- timers with a seeded tie-break -----------------------------------------------------------
    def call_at(self, when: float, callback: Callable[..., Any],  # type: ignore[override]
                *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        self._timer_seq += 1
        timer = _SeededTimer(when, (self._rng.getrandbits(32), self._timer_seq), callback, args,
                             self, context)
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    # -- no threads ------------------------------------------------------------------------------
    def run_in_executor(self, executor: Executor | None,  # type: ignore[override]
                        func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``func`` now, on this thread (a thread pool would race the virtual clock)."""
        self._check_closed()  # type: ignore[attr-defined]
        self.inline_calls += 1
        fut = self.create_future()
        try:
            fut.set_result(func(*args))
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        return fut

    def set_default_executor(self, executor: Any) -> None:
        """Ignored: a simulated loop never uses a thread pool."""
