"""The black-box agents of one run: processes, database schemas, routing, probes, faults.

:class:`BlackBoxAgents` is attached to a :class:`harness.run.PipelineRun` whose pipeline has
``command:`` or ``external:`` agents. At start it gives each one its own PostgreSQL schema
(``database: postgres``), starts the :class:`~harness.blackbox.router.Router`, starts and
supervises the ``command:`` processes with their connection settings in the environment, and
waits until every black box consumes from its queue (``start_timeout_s``; an agent that keeps
crashing or never connects ends the run with :class:`AgentStartError`, exit 2). At stop it
reads the probes (their rows become ``effect`` events and part of the snapshot) and drops the
schemas.

Process faults: :meth:`kill` (SIGKILL while the agent holds unacked deliveries: the process is
SIGSTOPped first and killed once the broker shows a message waiting behind its full prefetch
window, so the kill lands mid-delivery by construction, not by timing), :meth:`pause` /
:meth:`resume` (SIGSTOP/SIGCONT) and :meth:`restart` (SIGTERM, started again).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from harness.blackbox.probes import run_probe
from harness.blackbox.process import CommandProcess
from harness.blackbox.router import Router
from harness.errors import HarnessError, PipelineError
from harness.pipeline import AgentSpec

if TYPE_CHECKING:
    from harness.run import PipelineRun

__all__ = ["DEFAULT_DATABASE", "AgentStartError", "BlackBoxAgents"]

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
#: starts of one command inside its start timeout before it counts as crashing on start
MAX_START_CRASHES = 5


class AgentStartError(HarnessError):
    """A black-box agent did not come up (crashed on start, never consumed its queue)."""


class BlackBoxAgents:
    """Runs and observes the black-box agents of a run (see the module docstring)."""

    def __init__(self, run: PipelineRun, *, network: Any = None,
                 database_url: str | None = None) -> None:
        self.run = run
        self.network = network
        self.database_url = database_url or os.environ.get("HARNESS_DATABASE_URL") \
            or DEFAULT_DATABASE
        self.agents: dict[str, AgentSpec] = {
            a.name: a for a in run.spec.agents.values()
            if a.is_black_box and a.name not in run.exclude}
        self.processes: dict[str, CommandProcess] = {}
        self.schemas: dict[str, str] = {}
        self.exchanges: dict[str, str] = {}  # exchange -> agent
        self.broker_urls: dict[str, str] = {}
        self.router: Router | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._open_kills: dict[str, dict[str, Any]] = {}
        self._paused: dict[str, dict[str, Any]] = {}
        self._restarting: set[str] = set()
        self.log_dir = Path(run.run_dir) if run.run_dir else Path(
            tempfile.mkdtemp(prefix="harness-blackbox-"))

    # -- names ---------------------------------------------------------------------------------
    def exchange_of(self, agent: AgentSpec) -> str:
        """The exchange an agent publishes to."""
        if agent.blackbox.external:
            return agent.blackbox.exchange or f"{agent.name}.out"
        return f"{self.run.prefix}{agent.name}.out"

    def schema_of(self, agent: AgentSpec) -> str:
        tag = re.sub(r"[^a-z0-9]", "_", (self.run.prefix or "h").lower()).strip("_")
        return f"{tag}_{re.sub(r'[^a-z0-9]', '_', agent.name.lower())}"[:63]

    def settings_env(self, agent: AgentSpec) -> dict[str, str]:
        """The connection settings a black box is given (docs/black-box.md)."""
        env = {"HARNESS_AGENT": agent.name,
               "HARNESS_BROKER_URL": self.broker_urls.get(agent.name, self.run.broker),
               "HARNESS_QUEUE": self.run.queue(agent.queue),
               "HARNESS_EXCHANGE": self.exchange_of(agent),
               "HARNESS_PREFIX": self.run.prefix}
        if agent.name in self.schemas:
            env["HARNESS_DATABASE_URL"] = self.database_url
            env["HARNESS_DATABASE_SCHEMA"] = self.schemas[agent.name]
        return env

    def _expand(self, text: str, env: dict[str, str]) -> str:
        names = {k.removeprefix("HARNESS_").lower(): v for k, v in env.items()}
        return re.sub(r"\{([a-z_]+)\}", lambda m: names.get(m.group(1), m.group(0)), text)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.agents:
            return
        if self.run.broker == "memory" or not self.run.broker.startswith("amqp"):
            raise PipelineError("black-box agents need RabbitMQ (--broker amqp://...): "
                                f"{', '.join(self.agents)}", where=str(self.run.spec.path))
        for agent in self.agents.values():
            if agent.blackbox.database:
                self.schemas[agent.name] = self.schema_of(agent)
            if agent.blackbox.external:  # its queue may hold a previous run's messages
                await self.run.transport.purge(self.run.queue(agent.queue))
        if self.schemas:
            await self._schemas("CREATE SCHEMA IF NOT EXISTS {}")
        self.exchanges = {self.exchange_of(a): a.name for a in self.agents.values()}
        transport = self.run.transport
        self.router = Router(
            self.run.broker, exchanges=self.exchanges, route=self.run.route,
            forward=lambda q, b, h: transport.publish(q, b, headers=h),
            recorder=self.run.recorder, queue=f"{self.run.prefix}_router",
            records_publish=bool(getattr(transport, "records_publish", False)),
            owned=tuple(x for x, a in self.exchanges.items()
                        if not self.agents[a].blackbox.external),
            direct=self._direct_routes(), outcomes=self.run.spec.outcomes)
        await self.router.start()
        await self._proxies()
        for agent in self.agents.values():
            if agent.command is None:
                continue
            proc = self._process(agent)
            self.processes[agent.name] = proc
            proc.start()
            self.run.recorder.record("agent_start", agent=agent.name, pid=proc.pid,
                                     supervisor=True, black_box=True)
        self._supervisor = asyncio.create_task(self._supervise(), name="black-box supervisor")
        await self.wait_ready()

    def _direct_routes(self) -> dict[str, list[str]]:
        """Type -> consumer queues no message fault of the run targets (bound directly)."""
        faults = getattr(self.run.transport, "faults", None) or []
        targets = {getattr(f, "target", "*") for f in faults}
        if {"*", ""} & targets:
            return {}
        faulted = {self.run.queue(self.run.spec.agents[t].queue)
                   for t in targets if t in self.run.spec.agents}
        types = {r.type for a in self.run.spec.agents.values() for r in a.consumes}
        return {t: [q for q in self.run.route(t) if q not in faulted] for t in sorted(types)}

    async def _proxies(self) -> None:
        """With a Toxiproxy, each command agent reaches the broker through ``AGENT-broker``."""
        if self.network is None:
            return
        parts = urlsplit(self.run.broker)
        upstream = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}"
        for agent in self.agents.values():
            if agent.command is None:
                continue
            handle = await asyncio.to_thread(self.network.proxy, f"{agent.name}-broker",
                                             upstream)
            netloc = parts.netloc.rsplit("@", 1)
            host = f"{handle.host}:{handle.port}"
            loc = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
            self.broker_urls[agent.name] = urlunsplit(parts._replace(netloc=loc))

    def _process(self, agent: AgentSpec) -> CommandProcess:
        settings = self.settings_env(agent)
        env = {**os.environ, **settings}
        env.update({k: self._expand(v, settings) for k, v in agent.blackbox.env.items()})
        argv = [self._expand(a, settings) for a in agent.command or []]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"agent-{agent.name}.log"
        return CommandProcess(agent.name, argv, env, log, cwd=str(self.run.spec.path.parent))

    async def wait_ready(self) -> None:
        """Until every black box consumes from its queue; AgentStartError past its timeout."""
        waiting = dict(self.agents)
        started = time.monotonic()
        while waiting:
            for name, agent in list(waiting.items()):
                if await self.consumers(agent) > 0:
                    del waiting[name]
                    continue
                proc = self.processes.get(name)
                elapsed = time.monotonic() - started
                if proc is not None and proc.starts > 1 and (
                        proc.starts > MAX_START_CRASHES or elapsed > agent.blackbox.start_timeout):
                    raise AgentStartError(
                        f"agent {name} crashed on start {proc.starts - 1} time(s) "
                        f"(last exit code {proc.last_exit}); see {proc.log}")
                if elapsed > agent.blackbox.start_timeout:
                    how = "is not running" if agent.blackbox.external else "did not connect"
                    raise AgentStartError(
                        f"agent {name} {how}: nothing consumed from queue "
                        f"{self.run.queue(agent.queue)!r} within {agent.blackbox.start_timeout:g}"
                        f" s (start_timeout_s)" + (f"; see {proc.log}" if proc else ""))
            if waiting:
                await asyncio.sleep(0.1)
        self.run.recorder.record("note", note="black boxes ready",
                                 agents=sorted(self.agents),
                                 waited_s=round(time.monotonic() - started, 3))

    async def consumers(self, agent: AgentSpec) -> int:
        """The broker's consumer count on an agent's queue."""
        stats = await self.queue_stats(self.run.queue(agent.queue))
        return stats[1]

    async def queue_stats(self, queue: str) -> tuple[int, int]:
        """(ready messages, consumers) of a queue, as the broker says."""
        inner: Any = getattr(self.run.transport, "inner", self.run.transport)
        channel_of = getattr(inner, "_admin_channel", None)
        if channel_of is None:
            return (0, 0)
        async with inner._lock:
            ch = await channel_of()
            q = await ch.declare_queue(queue, passive=True)
        result = q.declaration_result
        return int(result.message_count or 0), int(result.consumer_count or 0)

    async def _supervise(self) -> None:
        while not self._stopping:
            for proc in self.processes.values():
                code = proc.exit_code()
                if code is None or self._stopping or proc.name in self._restarting:
                    continue
                proc.last_exit = code
                self.run.recorder.record("agent_crash", agent=proc.name, pid=proc.pid,
                                         exit_code=code, supervisor=True, black_box=True)
                await asyncio.sleep(self.run.restart_delay)
                proc.start()
                self.run.recorder.record("agent_start", agent=proc.name, pid=proc.pid,
                                         restart=proc.starts - 1, supervisor=True,
                                         black_box=True)
                killed = self._open_kills.pop(proc.name, None)
                if killed is not None:
                    self.run.recorder.record("fault_end", **killed, new_pid=proc.pid)
            await asyncio.sleep(0.05)

    async def idle(self) -> bool:
        return self.router is None or await self.router.idle()

    async def stop(self) -> None:
        """Stop the processes and the router (the probes are read by :meth:`probe`)."""
        for name in list(self._paused):
            self.resume(name)
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await asyncio.gather(*(p.stop(timeout=5) for p in self.processes.values()))
        for proc in self.processes.values():
            self.run.recorder.record("agent_stop", agent=proc.name, pid=proc.pid,
                                     supervisor=True, black_box=True)
        if self.router is not None:
            deadline = time.monotonic() + 5.0  # record what the tap still holds
            while time.monotonic() < deadline and not await self.router.idle():
                await asyncio.sleep(0.05)
            await self.router.close()

    async def probe(self) -> dict[str, Any]:
        """Read every probe: record each effect row, return effects and ledger totals."""
        effects: list[dict[str, Any]] = []
        debits = credits = rows = 0
        for agent in self.agents.values():
            for spec in agent.blackbox.probes:
                found = await run_probe(
                    spec, database_url=self.database_url, schema=self.schemas.get(agent.name),
                    expand={"prefix": self.run.prefix, "agent": agent.name,
                            "schema": self.schemas.get(agent.name, "")})
                for row in found:
                    if spec.kind == "effects":
                        eff = {"key": str(row["key"]), "agent": agent.name,
                               "effect": str(row["effect"]),
                               "correlation_id": str(row["correlation_id"])}
                        effects.append(eff)
                        self.run.recorder.record("effect", applied=True, source="probe", **eff)
                    else:
                        debits += int(row["debit"] or 0)
                        credits += int(row["credit"] or 0)
                        rows += 1
        return {"effects": effects, "ledger": {"debits": debits, "credits": credits,
                                               "balanced": debits == credits, "rows": rows}}

    async def drop_schemas(self) -> None:
        if self.schemas:
            await self._schemas("DROP SCHEMA IF EXISTS {} CASCADE")

    async def _schemas(self, statement: str) -> None:
        import psycopg
        from psycopg import sql

        try:
            async with await psycopg.AsyncConnection.connect(self.database_url,
                                                             autocommit=True) as conn:
                for schema in self.schemas.values():
                    await conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            raise AgentStartError(f"database {self.database_url}: {exc}") from exc

    # -- process faults ------------------------------------------------------------------------
    def _proc(self, name: str) -> CommandProcess:
        proc = self.processes.get(name)
        if proc is None:
            raise PipelineError(f"agent {name} is not a command the harness started "
                                "(process faults need a command: agent)", where="target")
        return proc

    async def kill(self, name: str, *, fault_id: str | None = None,
                   wait_s: float = 10.0) -> dict[str, Any]:
        """SIGKILL ``name`` while it holds unacked deliveries (see the module docstring)."""
        proc = self._proc(name)
        queue = self.run.queue(self.agents[name].queue)
        proc.kill(signal.SIGSTOP)
        deadline = time.monotonic() + wait_s
        ready = 0
        while time.monotonic() < deadline:
            ready = (await self.queue_stats(queue))[0]
            if ready > 0:
                break
            await asyncio.sleep(0.01)
        fields = {"fault": "kill", "fault_id": fault_id or f"process:kill:{name}:{proc.starts}",
                  "target": name, "agent": name, "pid": proc.pid, "signal": int(signal.SIGKILL),
                  "supervisor": True, "mid_delivery": ready > 0, "waiting_behind": ready}
        self.run.recorder.record("fault_start", **fields)
        self._open_kills[name] = fields
        proc.kill(signal.SIGKILL)
        return fields

    def pause(self, name: str, fault_id: str | None = None) -> None:
        proc = self._proc(name)
        if name in self._paused:
            return
        fields = {"fault": "pause", "fault_id": fault_id or f"process:pause:{name}:{proc.pid}",
                  "target": name, "agent": name, "pid": proc.pid, "supervisor": True}
        self.run.recorder.record("fault_start", **fields, signal=int(signal.SIGSTOP))
        self._paused[name] = fields
        proc.kill(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        fields = self._paused.pop(name, None)
        if fields is None:
            return
        self.processes[name].kill(signal.SIGCONT)
        self.run.recorder.record("fault_end", **fields, signal=int(signal.SIGCONT))

    async def restart(self, name: str) -> None:
        """SIGTERM the process and start it again (its unacked deliveries are redelivered)."""
        proc = self._proc(name)
        self._restarting.add(name)  # keep the supervisor from counting this as a crash
        try:
            await proc.stop(timeout=5)
            proc.start()
        finally:
            self._restarting.discard(name)
        self.run.recorder.record("agent_start", agent=name, pid=proc.pid,
                                 restart=proc.starts - 1, supervisor=True, black_box=True)
