"""Agents as separate OS processes on a real broker, so that a crash is a real crash.

``run_agent`` is the body of ``harness agent``: one agent's runtime(s) in this process until
SIGTERM. ``ProcessRun`` is the parent behind ``harness run --processes``: it declares the
queues, starts every agent as ``python -m harness.cli agent ...`` (black-box ``command:``
agents with ``HARNESS_BROKER``/``HARNESS_QUEUE``/``HARNESS_PREFIX``/``HARNESS_STORE``/
``HARNESS_HISTORY`` in their environment), restarts a process that died, feeds the workload and
tracks terminal outcomes by tailing the shared history file (every process appends whole lines
to it). The summary is the same one ``harness demo`` prints, counted from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
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
from harness.run import PipelineRun
from harness.transport import open_transport

__all__ = ["AgentProcess", "HistoryTail", "ProcessCrashHook", "ProcessRun", "run_agent"]

CRASH_ENV = "HARNESS_CRASH_BEFORE_ACK"  # "probability:seed:marker-dir" (set by ProcessRun)


class ProcessCrashHook:
    """Process-level ``crash_before_ack``: the agent's process SIGKILLs itself after publishing
    and before acking a delivery (chosen from the seed and the message id), once per message
    (a marker file survives the process). Recorded as ``fault_start``/``fault_end`` first."""

    def __init__(self, spec: str, recorder: Recorder) -> None:
        prob, seed, marker_dir = spec.split(":", 2)
        self.probability = float(prob)
        self.seed = int(seed)
        self.dir = Path(marker_dir)
        self.recorder = recorder

    async def at(self, point: str, runtime: AgentRuntime, envelope: Any) -> None:
        from harness.chaos.schedule import decide

        if point != "before_ack" or envelope is None:
            return
        agent = runtime.agent.name
        if not decide(self.seed, self.probability, "crash_before_ack", envelope.message_id,
                      agent):
            return
        try:
            fd = os.open(self.dir / f"{agent}-{envelope.message_id}",
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # this message already killed us once
        os.close(fd)
        ids = {"message_id": envelope.message_id, "correlation_id": envelope.correlation_id}
        fields = {"fault": "crash_before_ack", "fault_id": "process:crash_before_ack",
                  "target": agent, "agent": agent, "pid": os.getpid(), **ids}
        self.recorder.record("fault_start", point=point, **fields)
        self.recorder.record("fault_end", **fields)
        os.kill(os.getpid(), signal.SIGKILL)


async def run_agent(pipeline: str | Path, name: str, *, broker: str, store: str,
                    history: str | Path | None, prefix: str = "",
                    origin: float | None = None) -> int:
    """Run agent ``name`` of ``pipeline`` (every replica) until SIGTERM/SIGINT; exit code."""
    spec = load_pipeline(pipeline)
    agent = spec.agents.get(name)
    if agent is None:
        raise PipelineError(f"no agent {name!r} (agents: {', '.join(spec.agents)})",
                            where=str(spec.path))
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
    hooks = ProcessCrashHook(os.environ[CRASH_ENV], recorder) \
        if os.environ.get(CRASH_ENV) else None

    async def restart(runtime: AgentRuntime, reason: str) -> None:
        await asyncio.sleep(0.05)
        if not stop.is_set():
            await runtime.start()

    await transport.connect()
    await effect_store.open()
    try:
        for i in range(agent.replicas):
            runtime = AgentRuntime(
                agent.agent, transport, registry, effect_store, recorder, route,
                queue=prefix + agent.queue, concurrency=agent.concurrency,
                dependencies=agent.dependencies, allow_fallback=agent.allow_fallback,
                params=agent.params, instance=i, on_crash=restart, hooks=hooks)
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


class AgentProcess:
    """One supervised OS process running one agent (or a black-box command)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ProcessRun(PipelineRun):
    """A pipeline whose agents each run as their own OS process on a real broker.

    Ingress, settling and the summary are :class:`PipelineRun`'s; the agents' events reach this
    process by tailing the shared history file.

    Args:
        spec: the pipeline.
        broker: an ``amqp://`` URL (processes cannot share the memory transport).
        run_dir: folder for history.jsonl, the SQLite store and the agents' logs.
        store: store URL shared by every process (default: the pipeline's, SQLite in run_dir).
        restart_delay: seconds before a dead process is started again.
    """

    def __init__(self, spec: PipelineSpec, *, broker: str, run_dir: str | Path,
                 store: str | None = None, seed: int | None = None,
                 restart_delay: float = 0.2,
                 crash_before_ack: dict[str, float] | None = None) -> None:
        if broker == "memory" or "://" not in broker:
            raise PipelineError("agents in separate processes need a real broker "
                                "(--broker amqp://...)", where="--processes")
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path = run_dir / "history.jsonl"
        super().__init__(spec, broker=broker, store=store, run_dir=run_dir, seed=seed,
                         recorder=Recorder(self.history_path), restart_delay=restart_delay,
                         exclude=tuple(spec.agents))
        self.tail = HistoryTail(self.history_path)
        self.processes: dict[str, AgentProcess] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.crash_before_ack = dict(crash_before_ack or {})
        self._killed: dict[str, dict[str, Any]] = {}  # agent -> open kill fault
        self._paused: dict[str, dict[str, Any]] = {}  # agent -> open pause fault

    # -- processes -----------------------------------------------------------------------------
    def _process_for(self, agent: AgentSpec) -> AgentProcess:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.update({"HARNESS_BROKER": self.broker, "HARNESS_QUEUE": self.queue(agent.queue),
                    "HARNESS_PREFIX": self.prefix, "HARNESS_STORE": self.store_url,
                    "HARNESS_HISTORY": str(self.history_path)})
        if agent.command is not None:
            argv = list(agent.command)
        else:
            argv = [sys.executable, "-m", "harness.cli", "agent", str(self.spec.path),
                    "--name", agent.name, "--broker", self.broker, "--store", self.store_url,
                    "--history", str(self.history_path), "--prefix", self.prefix,
                    "--origin", repr(self.recorder.origin)]
        if agent.name in self.crash_before_ack:
            markers = self.history_path.parent / "crash-markers"
            markers.mkdir(exist_ok=True)
            env[CRASH_ENV] = f"{self.crash_before_ack[agent.name]}:{self.seed or 0}:{markers}"
        log = self.history_path.parent / f"agent-{agent.name}.log"
        return AgentProcess(agent.name, argv, env, log)

    async def start(self) -> None:
        await super().start()
        for agent in self.spec.agents.values():
            proc = self._process_for(agent)
            self.processes[agent.name] = proc
            proc.start()
            self.recorder.record("agent_start", agent=agent.name, pid=proc.pid, supervisor=True)
        self._supervisor = asyncio.create_task(self._supervise(), name="supervisor")
        await self.wait_ready()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every SDK agent's process has subscribed (its own ``agent_start``), so
        the workload's latency does not include interpreter start-up. Black-box ``command:``
        agents do not write the history and are not waited for."""
        waiting = {a.name for a in self.spec.agents.values() if a.agent is not None}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            waiting -= {e["agent"] for e in self.recorder.events
                        if e["kind"] == "agent_start" and not e.get("supervisor")}
            if waiting:
                await asyncio.sleep(0.05)
        if waiting:
            self.recorder.record("note", text=f"agents not ready after {timeout}s: "
                                 f"{', '.join(sorted(waiting))}")

    async def _supervise(self) -> None:
        while not self._stopping:
            self.pump()
            for proc in self.processes.values():
                code = proc.exit_code()
                if code is not None and not self._stopping:
                    self.recorder.record("agent_crash", agent=proc.name, pid=proc.pid,
                                         exit_code=code, supervisor=True)
                    await asyncio.sleep(self.restart_delay)
                    proc.start()
                    self.recorder.record("agent_start", agent=proc.name, pid=proc.pid,
                                         restart=proc.starts - 1, supervisor=True)
                    killed = self._killed.pop(proc.name, None)
                    if killed is not None:
                        self.recorder.record("fault_end", **killed, new_pid=proc.pid)
            await asyncio.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` (SIGKILL by default) to an agent's process; the supervisor restarts it.
        Recorded as ``fault_start`` now and ``fault_end`` when the new process is started."""
        proc = self.processes[name]
        pid = proc.pid
        fields = {"fault": "kill", "fault_id": f"process:kill:{name}:{proc.starts}",
                  "target": name, "agent": name, "pid": pid, "signal": int(sig),
                  "supervisor": True}
        self.recorder.record("fault_start", **fields)
        self._killed[name] = fields
        proc.kill(sig)
        return pid

    def pause(self, name: str) -> int | None:
        """SIGSTOP an agent's process (it holds its deliveries, unacked, until resumed)."""
        proc = self.processes[name]
        if name in self._paused or proc.pid is None:
            return proc.pid
        fields = {"fault": "pause", "fault_id": f"process:pause:{name}:{proc.pid}",
                  "target": name, "agent": name, "pid": proc.pid, "supervisor": True}
        self.recorder.record("fault_start", **fields, signal=int(signal.SIGSTOP))
        self._paused[name] = fields
        proc.kill(signal.SIGSTOP)
        return proc.pid

    def resume(self, name: str) -> None:
        """SIGCONT a paused agent's process."""
        fields = self._paused.pop(name, None)
        if fields is None:
            return
        self.processes[name].kill(signal.SIGCONT)
        self.recorder.record("fault_end", **fields, signal=int(signal.SIGCONT))

    def pump(self) -> list[dict[str, Any]]:
        """Take in the agents' new history events (this process's own are already known)."""
        fresh = [e for e in self.tail.read() if e.get("agent") and not e.get("supervisor")
                 and e.get("source") != "broker"]
        for event in fresh:
            self.recorder.events.append(event)
            self._observe(event)
        return fresh

    async def settle(self, timeout: float = 60.0, *, poll: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if await super().settle(timeout=poll, poll=poll):
                return True
        return await super().settle(timeout=0, poll=poll)

    async def stop(self) -> None:
        for name in list(self._paused):
            self.resume(name)
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await asyncio.gather(*(p.stop() for p in self.processes.values()))
        for proc in self.processes.values():
            self.recorder.record("agent_stop", agent=proc.name, pid=proc.pid, supervisor=True)
        self.pump()
        await super().stop()
        self.recorder.close()

    async def summary(self) -> Any:
        self.pump()
        return await super().summary()


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
    """``harness run --processes``: the payments workload through agents in their own processes.

    Returns the same :class:`harness.run.RunSummary` as ``harness demo``.
    """
    import tempfile

    from harness.workload import payments_workload

    spec = load_pipeline(pipeline)
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="harness-run-"))
    tag = f"{int(time.time() * 1000) % 10**8}-"
    items = payments_workload(transactions, seed, run_tag=tag)
    run = ProcessRun(spec, broker=broker, store=store, run_dir=run_dir, seed=seed)
    async with run:
        interval = 1.0 / rate if rate else 0.0
        for item in items:
            if item.envelope is not None:
                await run.send(item.envelope, expect=item.expect)
            else:
                await run.send(item.body, correlation_id=item.correlation_id, valid=False,
                               expect=item.expect)
            if interval:
                await asyncio.sleep(interval)
        await run.settle(timeout=timeout)
        return await run.summary()
