"""Running a pipeline: one core (transport, store, ingress, settling, summary) and a host that
runs the agents -- in this process (:class:`InProcessAgents`) or as OS processes
(:class:`harness.processes.ProcessAgents`).

``PipelineRun`` is the engine behind ``harness demo``, ``harness run``, the chaos runner and the
pytest fixtures; :mod:`harness.engine` feeds it a workload, settles and summarises::

    async with PipelineRun(spec, broker="memory", recorder=Recorder(path)) as run:
        for env in workload:
            await run.send(env)
        settled = await run.settle(timeout=30)
        summary = await run.summary()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from harness.agents.runtime import AgentRuntime, Hooks
from harness.agents.stores import EffectStore, open_store
from harness.blackbox.session import BlackBoxAgents
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope, peek_identities
from harness.errors import PipelineError
from harness.history import Recorder, b64, then
from harness.pipeline import AgentSpec, PipelineSpec
from harness.redact import redact_url
from harness.spill import SpillDict
from harness.summary import RunSummary, summarise
from harness.transport import DeadLetter, Transport, open_transport

__all__ = ["BROKER_DEAD_LETTER_REASONS", "AgentHost", "InProcessAgents", "PipelineRun",
           "RunSummary", "agent_runtime"]

#: dead-letter reasons set by the broker itself (not recorded by an agent)
BROKER_DEAD_LETTER_REASONS = frozenset({"delivery_limit", "rejected", "expired", "maxlen"})


class AgentHost(Protocol):
    """Where a run's agents live: started after the queues exist, stopped before the drain."""

    async def start(self, run: PipelineRun) -> None:
        """Start every agent of ``run.spec``."""

    async def stop(self) -> None:
        """Stop every agent (unsettled deliveries go back to their queues)."""

    async def restart(self, name: str) -> None:
        """Stop and start every instance of one agent."""

    def pump(self) -> list[dict[str, Any]]:
        """Events the agents recorded elsewhere (other processes), taken in now."""


def agent_runtime(agent: AgentSpec, *, transport: Transport, registry: SchemaRegistry,
                  store: EffectStore, recorder: Recorder, route: Callable[[str], list[str]],
                  queue: str, hooks: Hooks | None = None, instance: int = 0,
                  on_crash: Callable[[AgentRuntime, str], Awaitable[None]] | None = None,
                  intents: bool = False) -> AgentRuntime:
    """The one wiring of a pipeline agent into a runtime (this process's agents and each
    ``harness agent`` process use it): the pipeline's concurrency, dependencies, fallback
    permission and params on the given transport, store, history and routes (``intents``:
    see :class:`AgentRuntime`)."""
    if agent.agent is None:
        raise PipelineError(f"agent {agent.name} is a command, not in-process")
    return AgentRuntime(
        agent.agent, transport, registry, store, recorder, route, queue=queue,
        concurrency=agent.concurrency, dependencies=agent.dependencies,
        allow_fallback=agent.allow_fallback, params=agent.params, hooks=hooks,
        instance=instance, on_crash=on_crash, intents=intents)


class InProcessAgents:
    """Every SDK agent as :class:`AgentRuntime` instances in this process.

    Args:
        hooks: fault hooks given to every runtime.
        restart_delay: seconds before a crashed runtime is started again.
        exclude: agent names not to start (driven from outside).
    """

    def __init__(self, *, hooks: Hooks | None = None, restart_delay: float = 0.05,
                 exclude: tuple[str, ...] = ()) -> None:
        self.hooks = hooks
        self.restart_delay = restart_delay
        self.exclude = exclude
        self.runtimes: dict[str, list[AgentRuntime]] = {}
        self._run: PipelineRun | None = None

    async def start(self, run: PipelineRun) -> None:
        self._run = run
        for agent in run.spec.agents.values():
            if agent.agent is None or agent.name in self.exclude:
                continue
            for i in range(agent.replicas):
                await self.start_agent(agent, instance=i)

    def runtime_for(self, agent: AgentSpec, instance: int) -> AgentRuntime:
        run = self._run
        assert run is not None, "start() first"
        return agent_runtime(agent, transport=run.transport, registry=run.registry,
                             store=run.store, recorder=run.recorder, route=run.route,
                             queue=run.queue(agent.queue), hooks=self.hooks, instance=instance,
                             on_crash=self._on_crash)

    async def start_agent(self, agent: AgentSpec, *, instance: int = 0) -> AgentRuntime:
        runtime = self.runtime_for(agent, instance)
        slots = self.runtimes.setdefault(agent.name, [])
        if instance < len(slots):
            slots[instance] = runtime
        else:
            slots.append(runtime)
        await runtime.start()
        return runtime

    async def _on_crash(self, runtime: AgentRuntime, reason: str) -> None:
        await asyncio.sleep(self.restart_delay)
        assert self._run is not None
        await self.start_agent(self._run.spec.agents[runtime.agent.name],
                               instance=runtime.instance)

    async def restart(self, name: str) -> None:
        assert self._run is not None
        for runtime in list(self.runtimes.get(name, [])):
            await runtime.stop()
            await self.start_agent(self._run.spec.agents[name], instance=runtime.instance)

    async def stop(self) -> None:
        for runtimes in self.runtimes.values():
            for runtime in runtimes:
                await runtime.stop()

    def pump(self) -> list[dict[str, Any]]:
        return []  # in-process agents record straight into the run's recorder


#: effects per ``snapshot`` event (a run's end-of-run snapshot is recorded in parts)
SNAPSHOT_PAGE = 10_000


class PipelineRun:
    """A pipeline on one transport and one store; its agents run on a host.

    Args:
        spec: the loaded pipeline.
        broker: ``memory`` or a broker URL.
        store: store URL; default from the pipeline (``sqlite`` -> a file in ``run_dir``).
        recorder: the history; default an in-memory one.
        run_dir: folder for the SQLite store and other files.
        hooks: fault hooks given to every in-process agent runtime.
        restart_delay: seconds before a crashed agent is restarted.
        prefix: queue-name prefix (default: unique per run on a real broker).
        agents: the host (default :class:`InProcessAgents` with ``hooks``/``exclude``).
    """

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        broker: str = "memory",
        store: str | None = None,
        recorder: Recorder | None = None,
        run_dir: str | Path | None = None,
        hooks: Hooks | None = None,
        restart_delay: float = 0.05,
        prefix: str | None = None,
        transport: Transport | None = None,
        seed: int | None = None,
        exclude: tuple[str, ...] = (),
        agents: AgentHost | None = None,
        network: Any = None,
    ) -> None:
        self.spec = spec
        self.broker = broker
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else None
        self.recorder = recorder or Recorder()
        self.exclude = exclude
        self.restart_delay = restart_delay
        self.agents: AgentHost = agents or InProcessAgents(
            hooks=hooks, restart_delay=restart_delay, exclude=exclude)
        #: a run that made up its own prefix on a real broker deletes its queues at stop
        self.owns_queues = prefix is None and broker != "memory"
        if prefix is None:
            prefix = "" if broker == "memory" else f"h{uuid.uuid4().hex[:8]}."
        self.prefix = prefix
        self.transport = transport or open_transport(broker, prefix=prefix)
        self.store_url = self._store_url(store or spec.store)
        self.store: EffectStore = open_store(self.store_url, namespace=prefix.strip("."))
        self.registry = SchemaRegistry(spec.registry_path)
        #: the latest dead letters drained (bounded: a soak's dead letters are in the history)
        self.dead: collections.deque[DeadLetter] = collections.deque(maxlen=20)
        self._unrecorded: list[DeadLetter] = []
        #: correlation -> when it was sent, for the inputs sent that have no fate yet
        self.pending: dict[str, float] = {}
        #: correlation -> its first fate (a SpillDict: on disk past its bound)
        self.terminal = SpillDict()
        self.sent_count = 0  #: correlations sent
        self.settled_count = 0  #: correlations with a fate (some may never have been sent)
        self._unsent_fates: set[str] = set()  # correlations with a fate, not (yet) sent
        #: correlation -> key of an outcome an agent process is committing (its intent seen,
        #: its outcome line not yet): read back from the store if the process dies in between
        self._outcome_intents: dict[str, tuple[str, float]] = {}
        self._read_back_at = 0.0
        self._settled = asyncio.Event()
        self._started = 0.0
        self._stopped = False
        self._probed = False
        self.recorder.listeners.append(self._observe)
        #: external agents' queues keep their names (the running service knows them)
        self._routes: dict[str, list[str]] = {}
        self._consumed: dict[str, bool] = {}  # type -> some agent consumes it (every send)
        self._fixed_queues = {a.queue for a in spec.agents.values()
                              if a.blackbox is not None and a.blackbox.external}
        self.blackbox: BlackBoxAgents | None = None
        if any(a.is_black_box and a.name not in exclude for a in spec.agents.values()):
            self.blackbox = BlackBoxAgents(self, network=network)

    @property
    def hooks(self) -> Hooks | None:
        return getattr(self.agents, "hooks", None)

    @property
    def runtimes(self) -> dict[str, list[AgentRuntime]]:
        """In-process runtimes by agent (empty for other hosts)."""
        return getattr(self.agents, "runtimes", {})

    def _store_url(self, store: str) -> str:
        if store == "sqlite":
            base = self.run_dir or Path(".harness")
            base.mkdir(parents=True, exist_ok=True)
            path = base / f"{self.spec.name}-{uuid.uuid4().hex[:8]}.sqlite3"
            return f"sqlite:///{path}"
        return store

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> PipelineRun:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, declare every queue, open the store and start the agents on the host."""
        self._started = time.monotonic()
        await self.transport.connect()
        await self.store.open()
        self.recorder.record("run_start", pipeline=self.spec.name, seed=self.seed,
                             broker=redact_url(self.broker), store=redact_url(self.store_url),
                             registry=str(self.spec.registry_path),
                             budgets=self.spec.all_budgets(), fallbacks=self.spec.fallbacks(),
                             black_boxes={n: self.queue(a.queue) for n, a in
                                          sorted(self.blackbox.agents.items())}
                             if self.blackbox else None,
                             tapped=self.blackbox.tapped if self.blackbox else None)
        for agent in self.spec.agents.values():
            await self.transport.declare(self.queue(agent.queue),
                                         delivery_limit=self.spec.delivery_limit)
        await self.agents.start(self)
        if self.blackbox is not None:
            try:
                await self.blackbox.start()
            except BaseException:
                self._probed = True  # they never ran: no probe (its error would hide this one)
                with contextlib.suppress(Exception):
                    await self.stop()
                raise

    def queue(self, name: str) -> str:
        """The broker queue name for an agent queue (with the run's prefix, except an
        ``external:`` agent's queue)."""
        return name if name in self._fixed_queues else self.prefix + name

    def route(self, message_type: str) -> list[str]:
        """The broker queues that receive a type (cached: asked on every publish)."""
        queues = self._routes.get(message_type)
        if queues is None:
            queues = self._routes[message_type] = [
                self.queue(q) for q in self.spec.queues_for(message_type)]
        return queues

    async def start_agent(self, agent: AgentSpec, *, instance: int = 0) -> AgentRuntime:
        """Start one in-process runtime (in-process host only)."""
        if not isinstance(self.agents, InProcessAgents):
            raise PipelineError("start_agent needs in-process agents")
        return await self.agents.start_agent(agent, instance=instance)

    async def restart_agent(self, name: str) -> None:
        """Stop and start every instance of an agent (unsettled work is redelivered)."""
        if self.blackbox is not None and name in self.blackbox.agents:
            await self.blackbox.restart(name)
            return
        await self.agents.restart(name)

    def pump(self) -> list[dict[str, Any]]:
        """Take in events the agents recorded elsewhere (other processes)."""
        fresh = self.agents.pump()
        for event in fresh:
            if self.recorder.keep:
                self.recorder.events.append(event)
            self._observe(event)
        return fresh

    async def stop(self) -> None:
        """Stop agents, drain dead letters, snapshot the store, close everything."""
        if self.blackbox is not None:
            await self.blackbox.stop()
        await self.agents.stop()
        self.pump()
        await self.drain_dead_letters()
        for dl in self._unrecorded:  # no agent is left to record them
            if not self.has_fate(dl.correlation_id):
                self._record_dead_letter(dl, source="dlq")
        self._unrecorded = []
        try:
            await self.snapshot()
        finally:
            if self.blackbox is not None:
                await self.blackbox.drop_schemas()
        self.recorder.record("run_end", elapsed_s=round(time.monotonic() - self._started, 3))
        self._elapsed = round(time.monotonic() - self._started, 3)
        self._stopped = True
        if self.owns_queues:
            for agent in self.spec.agents.values():
                if agent.queue not in self._fixed_queues:
                    await self.transport.delete(self.queue(agent.queue))
        await self.transport.close()
        await self.store.close()

    # -- ingress -------------------------------------------------------------------------------
    async def send(self, message: Envelope | bytes, *, correlation_id: str | None = None,
                   valid: bool = True, expect: str | None = None) -> None:
        """Feed one workload input to the consumers of the ingress type (an envelope of another
        type goes to that type's consumers: a message replayed from a dead-letter queue)."""
        mtype = self.spec.ingress.type
        if isinstance(message, Envelope) and self._consumes(message.type):
            mtype = message.type
        cid: str | None
        if isinstance(message, Envelope):
            body, cid, ids = message.to_bytes(), message.correlation_id, message.identities()
        else:
            ids = {**peek_identities(message), "correlation_id": correlation_id}
            body, cid = message, correlation_id
        if cid is None:
            raise ValueError("raw ingress bytes need a correlation_id")
        self.track(cid)
        self.recorder.record("ingress", valid=valid, expect=expect,
                             body=None if valid else b64(body[:65536]), **ids)
        headers = {"x-correlation-id": cid, "x-message-type": mtype}
        for queue in self.route(mtype):
            await self.transport.publish(queue, body, headers=headers)
            if not getattr(self.transport, "records_publish", False):
                self.recorder.record("publish", queue=queue, producer="workload", **ids)

    def track(self, cid: str) -> None:
        """Count ``cid`` as sent: the run waits for its fate (:meth:`send` calls this)."""
        if cid in self.pending:
            return
        if cid not in self.terminal:
            self.pending[cid] = time.monotonic()
        elif cid in self._unsent_fates:  # its fate came first
            self._unsent_fates.discard(cid)
        else:
            return  # sent before
        self.sent_count += 1

    def has_fate(self, cid: str | None) -> bool:
        """Whether ``cid`` reached a terminal outcome or a dead letter."""
        return cid not in self.pending and cid in self.terminal

    def _consumes(self, message_type: str) -> bool:
        consumed = self._consumed.get(message_type)
        if consumed is None:
            consumed = self._consumed[message_type] = bool(self.spec.consumers_of(message_type))
        return consumed

    # -- settling ------------------------------------------------------------------------------
    def _observe(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "intent" and event.get("outcome") and event.get("correlation_id"):
            self._outcome_intents[event["correlation_id"]] = (str(event.get("key")),
                                                              time.monotonic())
            return
        if kind not in ("outcome", "dead_letter"):
            return
        cid = event.get("correlation_id")
        if not cid or self.has_fate(cid):
            return
        self._outcome_intents.pop(cid, None)
        self._terminal(cid, event.get("outcome", "dead_lettered"))

    def _terminal(self, cid: str, fate: str) -> None:
        if self.pending.pop(cid, None) is None:
            self._unsent_fates.add(cid)
        self.terminal.put(cid, fate)
        self.settled_count += 1
        if self.settled():
            self._settled.set()

    async def drain_dead_letters(self) -> list[DeadLetter]:
        """Collect dead letters from every queue; record those the broker made itself."""
        found: list[DeadLetter] = []
        # A harness-made dead letter whose agent was cut off (crashed, restarted) after the
        # broker had it but before recording it: the DLQ is the truth, so it is recorded from
        # there when its correlation still has no fate one drain later.
        late, self._unrecorded = self._unrecorded, []
        for dl in late:
            if dl.correlation_id and not self.has_fate(dl.correlation_id):
                self._record_dead_letter(dl, source="dlq")
        for agent in self.spec.agents.values():
            for dl in await self.transport.dead_letters(self.queue(agent.queue)):
                found.append(dl)
                if dl.reason in BROKER_DEAD_LETTER_REASONS:
                    self._record_dead_letter(dl, source="broker")
                elif dl.correlation_id and not self.has_fate(dl.correlation_id):
                    self._unrecorded.append(dl)
        self.dead.extend(found)
        return found

    def _record_dead_letter(self, dl: DeadLetter, *, source: str) -> None:
        self.recorder.record(
            "dead_letter", queue=dl.queue, reason=dl.reason, detail=dl.detail,
            correlation_id=dl.correlation_id, body=b64(dl.body[:65536]),
            body_len=len(dl.body), source=source)

    def settled(self) -> bool:
        """Whether every input sent has a terminal outcome or a dead letter."""
        return self.sent_count > 0 and not self.pending

    async def settle(self, timeout: float = 60.0, *, poll: float = 0.1) -> bool:
        """Wait until every input sent has a terminal outcome or a dead letter."""
        deadline = time.monotonic() + timeout
        while True:
            # cleared before the awaits below: a fate that arrives while they run wakes the
            # wait at once (cleared after them, it waited a whole ``poll`` for nothing)
            self._settled.clear()
            self.pump()
            if self.settled():
                return True
            if time.monotonic() >= deadline:
                return False
            await self.drain_dead_letters()
            await self._read_back_outcomes()
            try:
                await asyncio.wait_for(self._settled.wait(),
                                       timeout=max(0.0, min(poll, deadline - time.monotonic())))
            except TimeoutError:
                pass

    async def _read_back_outcomes(self, every: float = 1.0) -> None:
        """Settle correlations whose outcome an agent process committed and then died before
        recording (its intent is alone for ``every`` seconds): the store is the truth, as for
        the checkers, which read it back from the end-of-run snapshot. At most once per
        ``every`` seconds."""
        now = time.monotonic()
        waiting = {c: k for c, (k, seen) in self._outcome_intents.items()
                   if not self.has_fate(c) and now - seen >= every}
        if not waiting or now < self._read_back_at:
            return
        self._read_back_at = time.monotonic() + every
        stored = {e["key"]: str(e["effect"]) for e in await self.store.effects()}
        for cid, key in waiting.items():
            if key in stored:
                del self._outcome_intents[cid]
                self.recorder.record("note", text=f"the outcome of {cid} was read back from "
                                     "the store (its agent stopped before recording it)",
                                     correlation_id=cid, key=key)
                self._terminal(cid, stored[key].removeprefix("outcome:"))

    async def _store_state(self) -> dict[str, Any]:
        effects = await self.store.effects()
        ledger = await self.store.ledger()
        return {"store": redact_url(self.store_url), "ledger": ledger,
                "effects": [{k: e[k] for k in ("key", "agent", "effect", "correlation_id")}
                            for e in effects]}

    async def snapshot(self) -> dict[str, Any]:
        """Record the store's final state (ledger, then every effect) and return the ledger.

        The effects are read and recorded a page at a time: the first ``snapshot`` event holds
        the store, the ledger and the first page; each further page is a ``snapshot`` event
        with ``part`` (1, 2, ...), so no event and no list grows with the run."""
        ledger = await self.store.ledger()
        extra: list[dict[str, Any]] = []
        if self.blackbox is not None and not self._probed:
            self._probed = True  # probe rows are recorded as effect events once
            seen = await self.blackbox.probe()
            extra = list(seen["effects"])
            debits = ledger["debits"] + seen["ledger"]["debits"]
            credits = ledger["credits"] + seen["ledger"]["credits"]
            ledger = {"debits": debits, "credits": credits, "balanced": debits == credits,
                      "rows": ledger.get("rows", 0) + seen["ledger"]["rows"]}
        data: dict[str, Any] = {"store": redact_url(self.store_url), "ledger": ledger}
        part = 0
        pending: list[dict[str, Any]] | None = None
        async for page in self.store.effect_pages(SNAPSHOT_PAGE):
            if pending is not None:
                self._record_snapshot(data, part, pending, more=True)
                part += 1
            pending = page
        self._record_snapshot(data, part, (pending or []) + extra, more=False)
        return data

    def _record_snapshot(self, data: dict[str, Any], part: int, effects: list[dict[str, Any]],
                         *, more: bool) -> None:
        fields: dict[str, Any] = dict(data) if part == 0 else {"part": part}
        fields["effects"] = effects
        if more:
            fields["more"] = True
        self.recorder.record("snapshot", **fields)

    async def summary(self) -> RunSummary:
        """The run's summary, read from its history by the checkers (:mod:`harness.summary`).

        Before :meth:`stop`, the store's current state stands in for the final snapshot."""
        self.pump()
        events: Any = self.recorder.history()
        elapsed = getattr(self, "_elapsed", None)
        if not self._stopped:
            await self.drain_dead_letters()
            events = then(events, [{"kind": "snapshot", **await self._store_state()}])
            elapsed = round(time.monotonic() - self._started, 3)
        return summarise(events, pipeline=self.spec.name, seed=self.seed,
                         broker=redact_url(self.broker), store=redact_url(self.store_url),
                         elapsed_s=elapsed or 0.0)
