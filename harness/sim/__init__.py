"""Deterministic simulation: a virtual clock and seeded ordering for runs on the memory broker.

See docs/simulation.md. Same seed, same history, byte for byte apart from
:data:`ENVIRONMENT_FIELDS`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.sim.loop import SimLoop, SimulationDeadlock
from harness.sim.run import (
    SIMULATED_FAULTS,
    SimStats,
    check_simulatable,
    run_simulated,
    simulate_experiment,
)
from harness.sim.world import SIM_EPOCH

__all__ = ["ENVIRONMENT_FIELDS", "SIMULATED_FAULTS", "SIM_EPOCH", "SimLoop", "SimStats",
           "SimulationDeadlock", "check_simulatable", "comparable", "run_simulated",
           "simulate_experiment", "simulated"]

#: history fields that name the machine, not the run: a temporary store file's path
ENVIRONMENT_FIELDS = frozenset({"store"})


def simulated() -> bool:
    """Whether the running event loop is a simulation."""
    try:
        return isinstance(asyncio.get_running_loop(), SimLoop)
    except RuntimeError:
        return False


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event without its environment fields (what two runs of one seed must agree on)."""
    return {k: v for k, v in event.items() if k not in ENVIRONMENT_FIELDS}
