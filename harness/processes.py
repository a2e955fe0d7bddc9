"""Agents as separate OS processes on a real broker, so that a crash is a real crash.

``run_agent`` is the body of ``harness agent``: one agent's runtime(s) in this process until
SIGTERM. ``ProcessRun`` is the parent behind ``harness run --processes``: it declares the
queues, starts every SDK agent as ``python -m harness.cli agent ...`` under a
:class:`~harness.supervisor.Supervisor` (restarted when it dies), feeds the workload and tracks
terminal outcomes by tailing the shared history file (every process appends whole lines to it).
Black-box ``command:``/``external:`` agents run as in any run (docs/black-box.md: their own
exchange, the harness's routing, the same supervisor class). The summary is the same one
``harness demo`` prints, counted from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from harness.agents.runtime import AgentRuntime
from harness.agents.stores import open_store
from harness.contracts.registry import SchemaRegistry
from harness.errors import PipelineError
from harness.history import Recorder
from harness.pipeline import AgentSpec, PipelineSpec, load_pipeline
from harness.run import PipelineRun, agent_runtime
from harness.supervisor import ManagedProcess, Supervisor
from harness.transport import open_transport

__all__ = ["FAULTS_ENV", "HistoryTail", "ProcessAgents", "ProcessRun", "run_agent", "run_processes"]

FAULTS_ENV = "HARNESS_FAULTS"  # JSON: seed, markers dir, clock file, planned faults
OVERRIDES_ENV = "HARNESS_OVERRIDES"  # JSON: agent -> handler ref (an experiment's variants)


async def run_agent(
    pipeline: str | Path,
    name: str,
    *,
    broker: str,
    store: str,
    history: str | Path | None,
    prefix: str = "",
    origin: float | None = None,
) -> int:
    """Run agent ``name`` of ``pipeline`` (every replica) until SIGTERM/SIGINT; exit code."""
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    spec = load_pipeline(pipeline, overrides=overrides or None)
    agent = spec.agents.get(name)
    if agent is None:
        raise PipelineError(
            f"no agent {name!r} (agents: {', '.join(spec.agents)})", where=str(spec.path)
        )
    if agent.agent is None:
        raise PipelineError(f"agent {name} is a command; start it directly", where=str(spec.path))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    recorder = Recorder(history, keep=False, origin=origin, process=f"{name}:{os.getpid()}")
    transport = open_transport(broker, prefix=prefix)
    effect_store = open_store(store, namespace=prefix.strip("."))
    registry = SchemaRegistry(spec.registry_path)

    def route(message_type: str) -> list[str]:
        return [prefix + q for q in spec.queues_for(message_type)]

    runtimes: list[AgentRuntime] = []
    hooks = None
    if os.environ.get(FAULTS_ENV):
        from harness.chaos.process_faults import inside_process

        hooks, transport = inside_process(
            json.loads(os.environ[FAULTS_ENV]),
            recorder,
            transport,
            queue_of=lambda a: prefix + (spec.agents[a].queue if a in spec.agents else a),
            prefix=prefix,
        )

    async def restart(runtime: AgentRuntime, reason: str) -> None:
        await asyncio.sleep(0.05)
        if not stop.is_set():
            await runtime.start()

    await transport.connect()
    await effect_store.open()
    try:
        for i in range(agent.replicas):
            runtime = agent_runtime(
                agent,
                transport=transport,
                registry=registry,
                store=effect_store,
                recorder=recorder,
                route=route,
                queue=prefix + agent.queue,
                hooks=hooks,
                instance=i,
                on_crash=restart,
                intents=True,  # a SIGKILL can cut this process between two lines
            )
            runtimes.append(runtime)
            await runtime.start()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            if not getattr(transport, "connected", True):
                recorder.record("agent_crash", agent=name, reason="broker connection lost")
                return 3  # the supervisor restarts us on a fresh connection
        for runtime in runtimes:
            await runtime.stop()
        return 0
    finally:
        await transport.close()
        await effect_store.close()
        recorder.close()


class HistoryTail:
    """Reads whole new lines appended to a JSON-lines file by any process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._rest = b""
        self.bad_lines = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._rest + data
        *lines, self._rest = data.split(b"\n")
        events = []
        for line in lines:
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                self.bad_lines += 1  # a process killed mid-write: its half line is skipped
        return events


class ProcessAgents:
    """The agent host of :class:`ProcessRun`: one supervised OS process per SDK agent
    (black-box ``command:`` agents are the run's :class:`~harness.blackbox.session.
    BlackBoxAgents`, on the same :class:`~harness.supervisor.Supervisor` class).

    Args:
        history_path: the shared history file (every process appends whole lines).
        restart_delay: seconds before a dead process is started again.
        faults: planned process faults applied inside the agents' processes (crash points,
            dependency faults, message faults on what they publish), with the run's seed.
        run_tag: the workload's run tag, left out of the faults' per-message decisions.
    """

    def __init__(
        self,
        history_path: Path,
        *,
        restart_delay: float = 0.2,
        faults: list[dict[str, Any]] | None = None,
        seed: int = 0,
        run_tag: str = "",
    ) -> None:
        self.history_path = history_path
        self.restart_delay = restart_delay
        self.faults = list(faults or [])
        self.seed = seed
        self.run_tag = run_tag
        self.tail = HistoryTail(history_path)
        self.supervisor: Supervisor | None = None
        self._run: PipelineRun | None = None

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        return self.supervisor.processes if self.supervisor is not None else {}

    @property
    def clock_file(self) -> Path:
        """Written when the fault clock starts (time 0 of the plan) for the agents to read."""
        return self.history_path.parent / "fault-clock"

    def start_clock(self) -> None:
        self.clock_file.write_text(repr(time.monotonic()))

    def _process_for(self, agent: AgentSpec) -> ManagedProcess:
        run = self._run
        assert run is not None
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        argv = [
            sys.executable,
            "-m",
            "harness.cli",
            "agent",
            str(run.spec.path),
            "--name",
            agent.name,
            "--broker",
            run.broker,
            "--store",
            run.store_url,
            "--history",
            str(self.history_path),
            "--prefix",
            run.prefix,
            "--origin",
            repr(run.recorder.origin),
        ]
        if run.spec.overrides:  # an experiment's variants replace handlers in the agents too
            env[OVERRIDES_ENV] = json.dumps(run.spec.overrides)
        if self.faults:
            markers = self.history_path.parent / "fault-markers"
            markers.mkdir(exist_ok=True)
            env[FAULTS_ENV] = json.dumps(
                {
                    "seed": self.seed,
                    "run_tag": self.run_tag,
                    "markers": str(markers),
                    "clock": str(self.clock_file),
                    "faults": self.faults,
                }
            )
        log = self.history_path.parent / f"agent-{agent.name}.log"
        return ManagedProcess(agent.name, argv, env, log)

    async def start(self, run: PipelineRun) -> None:
        self._run = run
        self.supervisor = Supervisor(
            run.recorder, restart_delay=self.restart_delay, stop_timeout=10.0, on_tick=run.pump
        )
        for agent in run.spec.agents.values():
            if agent.agent is not None:  # black boxes: the run's BlackBoxAgents
                self.supervisor.start(self._process_for(agent))
        await self.wait_ready()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every SDK agent's process has subscribed (its own ``agent_start``), so
        the workload's latency does not include interpreter start-up."""
        run = self._run
        assert run is not None
        waiting = {a.name for a in run.spec.agents.values() if a.agent is not None}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            run.pump()
            waiting -= {
                e["agent"]
                for e in run.recorder.events
                if e["kind"] == "agent_start" and not e.get("supervisor")
            }
            if waiting:
                await asyncio.sleep(0.05)
        if waiting:
            run.recorder.record(
                "note", text=f"agents not ready after {timeout}s: {', '.join(sorted(waiting))}"
            )

    def _sup(self) -> Supervisor:
        if self.supervisor is None:
            raise PipelineError("the agents' processes are not started", where="--processes")
        return self.supervisor

    def send_signal(self, name: str, sig: int) -> int | None:
        """Send ``sig`` to an agent's process, unrecorded (the nemesis records the fault)."""
        return self._sup().send_signal(name, sig)

    def kill(
        self, name: str, sig: int = signal.SIGKILL, *, fault_id: str | None = None
    ) -> int | None:
        """Send ``sig`` (SIGKILL by default) to an agent's process; the supervisor restarts it.
        Recorded as ``fault_start`` now and ``fault_end`` when the new process is started."""
        return self._sup().kill(name, sig, fault_id=fault_id)["pid"]

    def pause(self, name: str, *, fault_id: str | None = None) -> int | None:
        """SIGSTOP an agent's process (it holds its deliveries, unacked, until resumed)."""
        return self._sup().pause(name, fault_id=fault_id)

    def resume(self, name: str) -> None:
        """SIGCONT a paused agent's process."""
        self._sup().resume(name)

    async def restart(self, name: str) -> None:
        """Stop an agent's process gracefully (SIGTERM) and start it again."""
        await self._sup().restart(name)

    def pump(self) -> list[dict[str, Any]]:
        """The agents' new history events (this process's own are already known)."""
        own = self._run.recorder.process if self._run is not None else None
        return [
            e
            for e in self.tail.read()
            if e.get("process") != own and not e.get("supervisor") and e.get("source") != "broker"
        ]

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()


class ProcessRun(PipelineRun):
    """A pipeline whose agents each run as their own OS process on a real broker.

    The core (ingress, settling, summary) is :class:`PipelineRun`'s; the agents are hosted by
    :class:`ProcessAgents`, whose events reach this process by tailing the shared history.

    Args:
        spec: the pipeline.
        broker: an ``amqp://`` URL (processes cannot share the memory transport).
        run_dir: folder for history.jsonl, the SQLite store and the agents' logs.
        store: store URL shared by every process (default: the pipeline's, SQLite in run_dir).
        restart_delay: seconds before a dead process is started again.
        crash_before_ack: agent -> probability that its process SIGKILLs itself after
            publishing and before acking a delivery (once per message).
        faults: planned faults (``PlannedFault.to_dict()``) applied inside the agents.
        transport: this process's transport (a FaultyTransport for ingress faults).
        recorder: this process's recorder (on ``run_dir/history.jsonl``, with a ``process``).
    """

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        broker: str,
        run_dir: str | Path,
        store: str | None = None,
        seed: int | None = None,
        restart_delay: float = 0.2,
        crash_before_ack: dict[str, float] | None = None,
        faults: list[dict[str, Any]] | None = None,
        transport: Any = None,
        prefix: str | None = None,
        recorder: Recorder | None = None,
        run_tag: str = "",
    ) -> None:
        if broker == "memory" or "://" not in broker:
            raise PipelineError(
                "agents in separate processes need a real broker (--broker amqp://...)",
                where="--processes",
            )
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path = run_dir / "history.jsonl"
        planned = list(faults or [])
        for agent, prob in (crash_before_ack or {}).items():
            planned.append(
                {
                    "id": f"process:crash_before_ack@{agent}",
                    "fault": "crash_before_ack",
                    "target": agent,
                    "start": 0.0,
                    "end": None,
                    "probability": prob,
                    "max": None,
                    "params": {},
                }
            )
        host = ProcessAgents(
            self.history_path,
            restart_delay=restart_delay,
            faults=planned,
            seed=seed or 0,
            run_tag=run_tag,
        )
        super().__init__(
            spec,
            broker=broker,
            store=store,
            run_dir=run_dir,
            seed=seed,
            recorder=recorder or Recorder(self.history_path, process=f"supervisor:{os.getpid()}"),
            agents=host,  # SDK agents in processes; black boxes as in any run
            exclude=tuple(a.name for a in spec.agents.values() if not a.is_black_box),
            transport=transport,
            prefix=prefix,
        )
        self.host = host
        if planned and not faults:
            host.start_clock()  # no nemesis: the crash faults are active from the start

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """Every supervised process: SDK agents' and black-box ``command:`` agents'."""
        bb = self.blackbox.processes if self.blackbox is not None else {}
        return {**self.host.processes, **bb}

    @property
    def tail(self) -> HistoryTail:
        return self.host.tail

    def _supervisor_of(self, name: str) -> Any:
        if self.blackbox is not None and name in self.blackbox.processes:
            return self.blackbox.supervisor
        return self.host

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        sup = self._supervisor_of(name)
        return sup.kill(name, sig) if sup is self.host else sup.kill(name, sig)["pid"]

    def pause(self, name: str) -> int | None:
        return self._supervisor_of(name).pause(name)

    def resume(self, name: str) -> None:
        self._supervisor_of(name).resume(name)

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            self.recorder.close()


async def run_processes(
    pipeline: str | Path,
    *,
    broker: str,
    transactions: int = 300,
    seed: int = 0,
    store: str | None = None,
    out: str | Path | None = None,
    rate: float | None = None,
    timeout: float = 120.0,
) -> Any:
    """``harness run --processes``: :func:`harness.engine.run_pipeline` with processes."""
    from harness.engine import run_pipeline

    return await run_pipeline(
        pipeline,
        broker=broker,
        processes=True,
        transactions=transactions,
        seed=seed,
        store=store,
        out=out,
        rate=rate,
        timeout=timeout,
    )
