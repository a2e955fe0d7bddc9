"""Faults applied inside an agent's own OS process (``harness chaos run --processes``).

The parent passes the plan in ``HARNESS_FAULTS`` (JSON: seed, a markers folder, the fault-clock
file, the planned faults). Inside the agent's process:

- crash faults SIGKILL the process at their point (a real crash: nothing is acked, the
  supervisor starts a new process). A marker file per (fault, message, agent) survives the
  process, so each message crashes an agent at most once and ``max`` counts across restarts;
- dependency faults (``slow_dependency``, ``dependency_down``) are read by ``ctx.call`` from
  the plan and the fault clock (time 0 is written by the parent when the workload starts);
- message faults apply to what this agent publishes (a FaultyTransport around its transport).

Everything is recorded in the shared history like the in-process faults.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.chaos.fault_registry import FAULTS
from harness.chaos.faults import ChaosHooks, FaultyTransport
from harness.chaos.schedule import PlannedFault
from harness.history import Recorder
from harness.transport.base import Transport

__all__ = ["ProcessFaultHooks", "inside_process"]


class _FaultClock:
    """Seconds since the parent started the fault clock; -1 until it has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.t0: float | None = None

    def __call__(self) -> float:
        if self.t0 is None:
            try:
                self.t0 = float(self.path.read_text())
            except (FileNotFoundError, ValueError):
                return -1.0
        return time.monotonic() - self.t0


class ProcessFaultHooks(ChaosHooks):
    """:class:`ChaosHooks` for an agent in its own process: crashes are SIGKILLs, claims are
    marker files, dependency windows come from the plan and the clock."""

    def __init__(
        self,
        recorder: Recorder,
        plan: list[PlannedFault],
        seed: int,
        *,
        markers: Path,
        clock: Callable[[], float],
        run_tag: str = "",
    ) -> None:
        super().__init__(recorder, plan, seed, clock=clock, run_tag=run_tag)
        self.markers = markers
        self.windows = [f for f in plan if FAULTS[f.fault].target == "agent.dependency"]

    def _marker(self, fault: PlannedFault, name: str) -> Path:
        tag = hashlib.blake2b(fault.id.encode(), digest_size=6).hexdigest()
        return self.markers / f"{tag}--{name}"

    def claim(self, fault: PlannedFault, message_id: str, agent: str) -> bool:
        if fault.max is not None:
            tag = self._marker(fault, "").name
            if sum(1 for p in self.markers.iterdir() if p.name.startswith(tag)) >= fault.max:
                return False
        try:
            fd = os.open(
                self._marker(fault, f"{agent}--{message_id}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            return False  # this message already crashed this agent once
        os.close(fd)
        return True

    def crash(self, reason: str) -> None:
        self.recorder.close()
        os.kill(os.getpid(), signal.SIGKILL)

    def dependency_delay(self, dependency: str, agent: str | None = None) -> float | None:
        t = self.clock()
        for f in self.windows:
            owner, _, dep = f.target.rpartition(".")
            if dep != dependency or (owner and agent and owner != agent) or not f.active(t):
                continue
            if f.fault == "dependency_down":
                return float("inf")
            return float(f.params.get("latency_ms", 1000)) / 1000
        return None


def inside_process(
    config: dict[str, Any],
    recorder: Recorder,
    transport: Transport,
    *,
    queue_of: Callable[[str], str],
    prefix: str = "",
) -> tuple[ProcessFaultHooks, Transport]:
    """The hooks and the (fault-wrapped) transport of an agent process from ``config``
    (``prefix``: the run's queue prefix, left out of per-message decisions)."""
    plan = [PlannedFault(**f) for f in config.get("faults") or []]
    seed = int(config.get("seed") or 0)
    run_tag = str(config.get("run_tag") or "")
    clock = _FaultClock(Path(config["clock"]))
    hooks = ProcessFaultHooks(
        recorder, plan, seed, markers=Path(config["markers"]), clock=clock, run_tag=run_tag
    )
    if any(FAULTS[f.fault].family == "message" for f in plan):
        transport = FaultyTransport(
            transport,
            recorder,
            plan,
            seed,
            queue_of=queue_of,
            clock=clock,
            run_tag=run_tag,
            prefix=prefix,
        )
    return hooks, transport
