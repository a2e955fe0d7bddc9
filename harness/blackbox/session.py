"""The black-box agents of one run: processes, database schemas, routing, probes, faults.

:class:`BlackBoxAgents` is attached to a :class:`harness.run.PipelineRun` whose pipeline has
``command:`` or ``external:`` agents. At start it gives each one its own PostgreSQL schema
(``database: postgres``), starts the :class:`~harness.blackbox.router.Router`, starts and
supervises the ``command:`` processes with their connection settings in the environment (their
broker link through a :class:`~harness.blackbox.tap.AmqpTap` recording deliveries and acks), and
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
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from harness.blackbox.probes import run_probe
from harness.blackbox.router import Router
from harness.blackbox.tap import AmqpTap
from harness.errors import HarnessError, PipelineError
from harness.pipeline import AgentSpec
from harness.supervisor import ManagedProcess, Supervisor

if TYPE_CHECKING:
    from harness.run import PipelineRun

__all__ = ["DEFAULT_DATABASE", "AgentStartError", "BlackBoxAgents"]

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
#: starts of one command inside its start timeout before it counts as crashing on start
MAX_START_CRASHES = 5


class AgentStartError(HarnessError):
    """A black-box agent did not come up (crashed on start, never consumed its queue)."""


def _last_words(proc: ManagedProcess) -> str:
    """The last line the process wrote to its log (why it did not come up), if any."""
    try:
        with open(proc.log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 4096))
            lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f" (its last line: {lines[-1].strip()[:200]!r})" if lines else ""


class BlackBoxAgents:
    """Runs and observes the black-box agents of a run (see the module docstring)."""

    def __init__(
        self, run: PipelineRun, *, network: Any = None, database_url: str | None = None
    ) -> None:
        self.run = run
        self.network = network
        self.database_url = (
            database_url or os.environ.get("HARNESS_DATABASE_URL") or DEFAULT_DATABASE
        )
        self.agents: dict[str, AgentSpec] = {
            a.name: a
            for a in run.spec.agents.values()
            if a.is_black_box and a.name not in run.exclude
        }
        self.supervisor = Supervisor(
            run.recorder, restart_delay=run.restart_delay, tags={"black_box": True}
        )
        self.schemas: dict[str, str] = {}
        self.exchanges: dict[str, str] = {}  # exchange -> agent
        self.broker_urls: dict[str, str] = {}
        self.router: Router | None = None
        #: put a tap on each command agent's broker link (False: deliveries and acks unseen)
        self.tap = True
        self.taps: list[AmqpTap] = []
        self.log_dir = (
            Path(run.run_dir) if run.run_dir else Path(tempfile.mkdtemp(prefix="harness-blackbox-"))
        )

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
        env = {
            "HARNESS_AGENT": agent.name,
            "HARNESS_BROKER_URL": self.broker_urls.get(agent.name, self.run.broker),
            "HARNESS_QUEUE": self.run.queue(agent.queue),
            "HARNESS_EXCHANGE": self.exchange_of(agent),
            "HARNESS_PREFIX": self.run.prefix,
        }
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
            raise PipelineError(
                f"black-box agents need RabbitMQ (--broker amqp://...): {', '.join(self.agents)}",
                where=str(self.run.spec.path),
            )
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
            self.run.broker,
            exchanges=self.exchanges,
            route=self.run.route,
            forward=lambda q, b, h: transport.publish(q, b, headers=h),
            recorder=self.run.recorder,
            queue=f"{self.run.prefix}_router",
            records_publish=bool(getattr(transport, "records_publish", False)),
            owned=tuple(
                x for x, a in self.exchanges.items() if not self.agents[a].blackbox.external
            ),
            direct=self._direct_routes(),
            outcomes=self.run.spec.outcomes,
        )
        await self.router.start()
        await self._proxies()
        for agent in self.agents.values():
            if agent.command is None:
                continue
            self.supervisor.start(self._process(agent))
        await self.wait_ready()

    def _direct_routes(self) -> dict[str, list[str]]:
        """Type -> consumer queues no message fault of the run targets (bound directly)."""
        faults = getattr(self.run.transport, "faults", None) or []
        targets = {getattr(f, "target", "*") for f in faults}
        if {"*", ""} & targets:
            return {}
        faulted = {
            self.run.queue(self.run.spec.agents[t].queue)
            for t in targets
            if t in self.run.spec.agents
        }
        types = {r.type for a in self.run.spec.agents.values() for r in a.consumes}
        return {t: [q for q in self.run.route(t) if q not in faulted] for t in sorted(types)}

    @property
    def tapped(self) -> list[str]:
        """The agents whose broker link goes through a tap (their deliveries and acks are
        recorded: :mod:`harness.blackbox.tap`): every ``command:`` agent on ``amqp://``."""
        if not self.tap or urlsplit(self.run.broker).scheme != "amqp":
            return []
        return sorted(a.name for a in self.agents.values() if a.command is not None)

    async def _proxies(self) -> None:
        """Each command agent's broker URL: through its tap, and with a Toxiproxy through its
        proxy ``AGENT-broker`` (agent -> tap -> proxy -> broker)."""
        parts = urlsplit(self.run.broker)
        broker = (parts.hostname or "127.0.0.1", parts.port or 5672)
        tapped = set(self.tapped)
        for agent in self.agents.values():
            if agent.command is None:
                continue
            host, port = broker
            if self.network is not None:
                handle = await asyncio.to_thread(
                    self.network.proxy, f"{agent.name}-broker", f"{host}:{port}"
                )
                host, port = handle.host, handle.port
            if agent.name in tapped:
                tap = AmqpTap(
                    agent.name, self.run.queue(agent.queue), (host, port), self.run.recorder.record
                )
                await tap.start()
                self.taps.append(tap)
                host, port = "127.0.0.1", tap.port
            if (host, port) == broker:
                continue
            netloc = parts.netloc.rsplit("@", 1)
            loc = f"{netloc[0]}@{host}:{port}" if len(netloc) == 2 else f"{host}:{port}"
            self.broker_urls[agent.name] = urlunsplit(parts._replace(netloc=loc))

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """The ``command:`` agents' processes, by agent."""
        return self.supervisor.processes

    def _process(self, agent: AgentSpec) -> ManagedProcess:
        settings = self.settings_env(agent)
        env = {**os.environ, **settings}
        env.update({k: self._expand(v, settings) for k, v in agent.blackbox.env.items()})
        argv = [self._expand(a, settings) for a in agent.command or []]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"agent-{agent.name}.log"
        return ManagedProcess(agent.name, argv, env, log, cwd=str(self.run.spec.path.parent))

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
                if (
                    proc is not None
                    and proc.starts > 1
                    and (proc.starts > MAX_START_CRASHES or elapsed > agent.blackbox.start_timeout)
                ):
                    raise AgentStartError(
                        f"agent {name} crashed on start {proc.starts - 1} time(s) "
                        f"(last exit code {proc.last_exit}); see {proc.log}{_last_words(proc)}"
                    )
                if elapsed > agent.blackbox.start_timeout:
                    how = "is not running" if agent.blackbox.external else "did not connect"
                    raise AgentStartError(
                        f"agent {name} {how}: nothing consumed from queue "
                        f"{self.run.queue(agent.queue)!r} within {agent.blackbox.start_timeout:g}"
                        f" s (start_timeout_s)"
                        + (f"; see {proc.log}{_last_words(proc)}" if proc else "")
                    )
            if waiting:
                await asyncio.sleep(0.1)
        self.run.recorder.record(
            "note",
            note="black boxes ready",
            agents=sorted(self.agents),
            waited_s=round(time.monotonic() - started, 3),
        )

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

    async def idle(self) -> bool:
        return self.router is None or await self.router.idle()

    async def stop(self) -> None:
        """Stop the processes and the router (the probes are read by :meth:`probe`)."""
        await self.supervisor.stop()
        for tap in self.taps:
            await tap.close()
        self.taps = []
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
                    spec,
                    database_url=self.database_url,
                    schema=self.schemas.get(agent.name),
                    expand={
                        "prefix": self.run.prefix,
                        "agent": agent.name,
                        "schema": self.schemas.get(agent.name, ""),
                    },
                )
                for row in found:
                    if spec.kind == "effects":
                        eff = {
                            "key": str(row["key"]),
                            "agent": agent.name,
                            "effect": str(row["effect"]),
                            "correlation_id": str(row["correlation_id"]),
                        }
                        effects.append(eff)
                        self.run.recorder.record("effect", applied=True, source="probe", **eff)
                    else:
                        debits += int(row["debit"] or 0)
                        credits += int(row["credit"] or 0)
                        rows += 1
        return {
            "effects": effects,
            "ledger": {
                "debits": debits,
                "credits": credits,
                "balanced": debits == credits,
                "rows": rows,
            },
        }

    async def drop_schemas(self) -> None:
        if self.schemas:
            await self._schemas("DROP SCHEMA IF EXISTS {} CASCADE")

    async def _schemas(self, statement: str) -> None:
        import psycopg
        from psycopg import sql

        try:
            async with await psycopg.AsyncConnection.connect(
                self.database_url, autocommit=True
            ) as conn:
                for schema in self.schemas.values():
                    await conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            raise AgentStartError(f"database {self.database_url}: {exc}") from exc

    # -- process faults ------------------------------------------------------------------------
    def _proc(self, name: str) -> ManagedProcess:
        proc = self.processes.get(name)
        if proc is None:
            raise PipelineError(
                f"agent {name} is not a command the harness started "
                "(process faults need a command: agent)",
                where="target",
            )
        return proc

    async def kill(
        self, name: str, *, fault_id: str | None = None, wait_s: float = 10.0
    ) -> dict[str, Any]:
        """SIGKILL ``name`` while it holds unacked deliveries (see the module docstring)."""
        self._proc(name)
        queue = self.run.queue(self.agents[name].queue)
        self.supervisor.send_signal(name, signal.SIGSTOP)
        deadline = time.monotonic() + wait_s
        ready = 0
        while time.monotonic() < deadline:
            ready = (await self.queue_stats(queue))[0]
            if ready > 0:
                break
            await asyncio.sleep(0.01)
        return self.supervisor.kill(
            name, fault_id=fault_id, mid_delivery=ready > 0, waiting_behind=ready
        )

    def pause(self, name: str, fault_id: str | None = None) -> None:
        self._proc(name)
        self.supervisor.pause(name, fault_id=fault_id)

    def resume(self, name: str) -> None:
        self.supervisor.resume(name)

    async def restart(self, name: str) -> None:
        """SIGTERM the process and start it again (its unacked deliveries are redelivered)."""
        self._proc(name)
        await self.supervisor.restart(name)
