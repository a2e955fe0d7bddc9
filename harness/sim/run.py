"""Run a chaos experiment (or any coroutine) under simulation.

:func:`run_simulated` runs a coroutine on a fresh :class:`~harness.sim.loop.SimLoop` inside
:func:`~harness.sim.world.deterministic` and reports the virtual and wall time it took;
:func:`simulate_experiment` does that for :func:`harness.chaos.runner.run_experiment` after
checking the experiment is one the simulation covers (memory broker, in-process agents, no
network faults or external services).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.chaos.schedule import ALL_FAULTS, NETWORK_FAULTS
from harness.errors import InputError
from harness.sim.loop import SimLoop
from harness.sim.world import deterministic, real_perf_counter

__all__ = ["SIMULATED_FAULTS", "SimStats", "check_simulatable", "run_simulated",
           "simulate_experiment"]

T = TypeVar("T")

#: fault kinds a simulated run covers: message and process faults (not Toxiproxy's network
#: toxics, which act on real sockets)
SIMULATED_FAULTS = ALL_FAULTS - NETWORK_FAULTS


@dataclass(frozen=True)
class SimStats:
    """How a simulated run went.

    Attributes:
        seed: the seed of the loop's tie-breaks (the run's seed).
        virtual_s: seconds on the virtual clock from start to end.
        wall_s: real seconds the simulation took.
        ratio: virtual_s / wall_s (how many times faster than real time).
        jumps: times the clock jumped to the next timer.
        inline_calls: executor calls run inline.
    """

    seed: int
    virtual_s: float
    wall_s: float
    ratio: float
    jumps: int
    inline_calls: int

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "virtual_s": self.virtual_s, "wall_s": self.wall_s,
                "ratio": self.ratio, "jumps": self.jumps, "inline_calls": self.inline_calls}


def run_simulated(main: Callable[[], Awaitable[T]], seed: int) -> tuple[T, SimStats]:
    """Run ``main()`` on a virtual clock with everything pinned to ``seed``.

    Returns:
        (what main returned, SimStats).
    """
    loop = SimLoop(seed)
    wall0 = real_perf_counter()
    try:
        with deterministic(loop, seed):
            asyncio.set_event_loop(loop)
            try:
                result = loop.run_until_complete(_main(main))
            finally:
                _close(loop)
                asyncio.set_event_loop(None)
    finally:
        wall = real_perf_counter() - wall0
    virtual = loop.elapsed
    stats = SimStats(seed=seed, virtual_s=round(virtual, 6), wall_s=round(wall, 6),
                     ratio=round(virtual / wall, 2) if wall > 0 else 0.0, jumps=loop.jumps,
                     inline_calls=loop.inline_calls)
    return result, stats


async def _main(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


def _close(loop: SimLoop) -> None:
    """Cancel what is left (in a fixed order), finish async generators, close."""
    try:
        pending = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def check_simulatable(exp: Any, broker: str | None = None) -> None:
    """Raise InputError when the experiment needs something a simulation cannot give."""
    where = str(exp.path)
    if broker not in (None, "memory") or (exp.broker not in (None, "memory")):
        raise InputError(f"--simulate runs on the memory broker only, not {broker or exp.broker}",
                         where=where)
    outside = sorted({f.fault for f in exp.faults} - SIMULATED_FAULTS)
    if outside:
        raise InputError(f"--simulate does not cover network faults ({', '.join(outside)}): "
                         "they act on real sockets through Toxiproxy; run without --simulate",
                         where=where)
    if exp.services:
        raise InputError("--simulate does not cover external services (services: ...): they "
                         "answer on real sockets; run without --simulate", where=where)
    from harness.pipeline import load_pipeline

    spec = load_pipeline(exp.pipeline, overrides=exp.variants or None)
    outside = sorted(name for name, agent in spec.agents.items() if agent.agent is None)
    if outside:
        raise InputError(f"--simulate covers in-process agents only, not {', '.join(outside)} "
                         "(separate processes keep their own clocks); run without --simulate",
                         where=where)


def simulate_experiment(exp: Any, *, seed: int | None = None, out_dir: str | Path | None = None,
                        progress: Any = None, keep_store: bool = False,
                        coverage: bool = False) -> Any:
    """``run_experiment`` under simulation; the result's ``simulation`` holds its SimStats.

    Raises:
        InputError: the experiment uses network faults, services or a real broker.
    """
    from harness.chaos.runner import run_experiment

    check_simulatable(exp)
    seed = exp.seed if seed is None else seed
    result, stats = run_simulated(
        lambda: run_experiment(exp, seed=seed, broker="memory", out_dir=out_dir,
                               progress=progress, keep_store=keep_store, coverage=coverage),
        seed)
    result.simulation = stats.to_dict()
    return result
