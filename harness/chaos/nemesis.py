"""The nemesis: opens and closes window faults on time, through a driver for the run's mode.

Which driver call opens and closes each fault is in the fault registry
(:mod:`harness.chaos.fault_registry`); the drivers carry the actions out:

- :class:`InProcessDriver`: agents in this process (pause gates deliveries, kill crashes every
  runtime of the agent, dependency faults are read by ``ctx.call`` through the hooks);
- :class:`ProcessDriver`: agents as OS processes (SIGSTOP/SIGCONT, SIGKILL, SIGTERM + start;
  dependency and crash faults are applied inside the agents' processes from the plan).

Every window is recorded as ``fault_start``/``fault_end`` here, whatever the driver does.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from harness.chaos.fault_registry import FAULTS
from harness.chaos.schedule import NETWORK_FAULTS, PlannedFault
from harness.history import Recorder

__all__ = ["InProcessDriver", "Nemesis", "ProcessDriver", "fault_fields"]

_DEPENDENCY = "agent.dependency"


def fault_fields(f: PlannedFault) -> dict[str, Any]:
    """The history fields of a window fault."""
    agent, _, dep = f.target.rpartition(".")
    fields: dict[str, Any] = {
        "fault": f.fault,
        "fault_id": f.id,
        "target": f.target,
        "params": f.params or None,
    }
    if FAULTS[f.fault].target == _DEPENDENCY:
        fields.update(dependency=dep, agent=agent or None)
    elif f.fault not in NETWORK_FAULTS:
        fields["agent"] = f.target
    return fields


class _NetworkDriver:
    def __init__(self, network: Any) -> None:
        self.network = network

    async def network_start(self, f: PlannedFault) -> None:
        if self.network is not None:
            await self.network.start(f)

    async def network_stop(self, f: PlannedFault) -> None:
        if self.network is not None:
            await self.network.stop(f)


class _RunDriver(_NetworkDriver):
    """The black-box ``command:`` agents a run started are faulted the same way whatever hosts
    its SDK agents: kill -9 mid-delivery, SIGSTOP/SIGCONT, restart, recorded by their session."""

    def __init__(self, run: Any, network: Any = None) -> None:
        super().__init__(network)
        self.run = run

    def _black_box(self, f: PlannedFault) -> Any:
        bb = getattr(self.run, "blackbox", None)
        return bb if bb is not None and f.target in bb.processes else None

    def records(self, f: PlannedFault) -> bool:
        """Whether the driver records this fault itself (black-box kill and pause)."""
        return f.fault in ("kill", "pause") and self._black_box(f) is not None

    async def _on_black_box(self, f: PlannedFault, action: str) -> bool:
        """Apply ``action`` when the target is a black box the run started; whether it was."""
        bb = self._black_box(f)
        if bb is None:
            return False
        if action == "pause":
            bb.pause(f.target, fault_id=f.id)
        elif action == "resume":
            bb.resume(f.target)
        elif action == "kill":
            await bb.kill(f.target, fault_id=f.id)  # kill -9 while it holds deliveries
        else:
            await bb.restart(f.target)
        return True


class InProcessDriver(_RunDriver):
    """Window faults on agents running in this process, and on the black-box processes the
    run started."""

    def __init__(self, run: Any, hooks: Any, network: Any = None) -> None:
        super().__init__(run, network)
        self.hooks = hooks

    async def pause(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "pause"):
            self.hooks.pause(f.target)

    async def resume(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "resume"):
            self.hooks.resume(f.target)

    async def restart(self, f: PlannedFault) -> None:
        if f.target in self.run.spec.agents:
            await self.run.restart_agent(f.target)

    async def kill(self, f: PlannedFault) -> None:
        if await self._on_black_box(f, "kill"):
            return
        for runtime in list(self.run.runtimes.get(f.target, [])):
            await runtime.crash(f"kill ({f.id})")

    async def break_dependency(self, f: PlannedFault) -> None:
        self.hooks.break_dependency(f)

    async def heal_dependency(self, f: PlannedFault) -> None:
        self.hooks.heal_dependency(f)


class ProcessDriver(_RunDriver):
    """Window faults on agents running as OS processes (a :class:`ProcessRun`'s host) and on
    the run's black-box processes."""

    def __init__(self, host: Any, network: Any = None, run: Any = None) -> None:
        super().__init__(run, network)
        self.host = host

    async def pause(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "pause"):
            self.host.send_signal(f.target, signal.SIGSTOP)

    async def resume(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "resume"):
            self.host.send_signal(f.target, signal.SIGCONT)

    async def restart(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "restart"):
            await self.host.restart(f.target)

    async def kill(self, f: PlannedFault) -> None:
        if not await self._on_black_box(f, "kill"):
            self.host.send_signal(f.target, signal.SIGKILL)

    async def break_dependency(self, f: PlannedFault) -> None:
        """Applied inside the agent's process by its hooks, from the plan and the clock."""

    async def heal_dependency(self, f: PlannedFault) -> None:
        """Healed inside the agent's process when the window closes."""


class Nemesis:
    """Opens and closes the window faults of a plan on time, through a driver."""

    def __init__(self, driver: Any, recorder: Recorder, faults: list[PlannedFault]) -> None:
        self.driver = driver
        self.recorder = recorder
        self.faults = sorted(
            (f for f in faults if FAULTS[f.fault].begin is not None), key=lambda f: f.start
        )
        self.open: dict[str, PlannedFault] = {}
        self.t0 = time.monotonic()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.t0 = time.monotonic()
        for f in self.faults:
            self.tasks.append(asyncio.create_task(self._window(f)))

    async def _window(self, f: PlannedFault) -> None:
        await asyncio.sleep(max(0.0, f.start - (time.monotonic() - self.t0)))
        await self._begin(f)
        if f.end is None or FAULTS[f.fault].end is None:
            return
        await asyncio.sleep(max(0.0, f.end - (time.monotonic() - self.t0)))
        await self._finish(f)

    def _self_recorded(self, f: PlannedFault) -> bool:
        records = getattr(self.driver, "records", None)
        return bool(records is not None and records(f))

    async def _begin(self, f: PlannedFault) -> None:
        kind = FAULTS[f.fault]
        if self._self_recorded(f):
            if kind.end is not None:
                self.open[f.id] = f
            assert kind.begin is not None
            await kind.begin(self.driver, f)
            return
        self.recorder.record("fault_start", **fault_fields(f))
        if kind.end is None:  # instant: restart, kill
            assert kind.begin is not None
            await kind.begin(self.driver, f)
            self.recorder.record("fault_end", **fault_fields(f))
            return
        self.open[f.id] = f
        assert kind.begin is not None
        await kind.begin(self.driver, f)

    async def _finish(self, f: PlannedFault) -> None:
        if self.open.pop(f.id, None) is None:
            return
        end = FAULTS[f.fault].end
        if end is not None:
            await end(self.driver, f)
        if not self._self_recorded(f):
            self.recorder.record("fault_end", **fault_fields(f), healed_by="schedule")

    async def heal(self) -> None:
        """The rollbacks: cancel pending windows and close every open one."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for f in list(self.open.values()):
            await self._finish(f)
