"""Running a pipeline in-process: transport, store, agents, supervisor, ingress, settling.

``PipelineRun`` is the engine behind ``harness demo``, ``harness run``, the chaos runner and the
pytest fixtures::

    async with PipelineRun(spec, broker="memory", recorder=Recorder(path)) as run:
        for env in workload:
            await run.send(env)
        settled = await run.settle(timeout=30)
        summary = await run.summary()
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.agents.runtime import AgentRuntime, Hooks
from harness.agents.stores import EffectStore, open_store
from harness.blackbox.session import BlackBoxAgents
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope, peek_identities
from harness.errors import PipelineError
from harness.history import Recorder, b64
from harness.pipeline import AgentSpec, PipelineSpec
from harness.redact import redact_url
from harness.transport import DeadLetter, Transport, open_transport

__all__ = ["BROKER_DEAD_LETTER_REASONS", "PipelineRun", "RunSummary", "percentile"]

#: dead-letter reasons set by the broker itself (not recorded by an agent)
BROKER_DEAD_LETTER_REASONS = frozenset({"delivery_limit", "rejected", "expired", "maxlen"})


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank, p in 0..100) or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class RunSummary:
    """What happened to the inputs of a run (from the store, the DLQs and the history)."""

    transactions: int
    completed: int
    declined: int
    dead_lettered: int
    lost: int
    duplicate_effects: int
    ledger_balanced: bool
    p50_ms: float | None
    p99_ms: float | None
    seed: int | None = None
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    lost_ids: list[str] = field(default_factory=list)
    fallbacks: int = 0
    broker: str = "memory"
    store: str = "memory"
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicate_effects == 0 and self.ledger_balanced

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class PipelineRun:
    """A pipeline running in this process on one transport and one store.

    Args:
        spec: the loaded pipeline.
        broker: ``memory`` or an ``amqp://`` URL.
        store: store URL; default from the pipeline (``sqlite`` -> a file in ``run_dir``).
        recorder: the history; default an in-memory one.
        run_dir: folder for the SQLite store and other files.
        hooks: fault hooks given to every agent runtime.
        restart_delay: seconds before a crashed agent is restarted.
        prefix: queue-name prefix (default: unique per run on a real broker).
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
        network: Any = None,
    ) -> None:
        self.spec = spec
        self.broker = broker
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else None
        self.recorder = recorder or Recorder()
        self.hooks = hooks
        self.restart_delay = restart_delay
        self.exclude = exclude
        #: a run that made up its own prefix on a real broker deletes its queues at stop
        self.owns_queues = prefix is None and broker != "memory"
        if prefix is None:
            prefix = "" if broker == "memory" else f"h{uuid.uuid4().hex[:8]}."
        self.prefix = prefix
        self.transport = transport or open_transport(broker, prefix=prefix)
        self.store_url = self._store_url(store or spec.store)
        self.store: EffectStore = open_store(self.store_url, namespace=prefix.strip("."))
        self.registry = SchemaRegistry(spec.registry_path)
        self.runtimes: dict[str, list[AgentRuntime]] = {}
        self.dead: list[DeadLetter] = []
        self._unrecorded: list[DeadLetter] = []
        self.sent: dict[str, float] = {}
        self.terminal: dict[str, str] = {}
        self.done_at: dict[str, float] = {}
        self._settled = asyncio.Event()
        self._started = 0.0
        self._restarts: set[asyncio.Task[None]] = set()
        self._probed = False
        self.recorder.listeners.append(self._observe)
        #: external agents' queues keep their names (the running service knows them)
        self._fixed_queues = {a.queue for a in spec.agents.values()
                              if a.blackbox is not None and a.blackbox.external}
        self.blackbox: BlackBoxAgents | None = None
        if any(a.is_black_box and a.name not in exclude for a in spec.agents.values()):
            self.blackbox = BlackBoxAgents(self, network=network)

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
        """Connect, declare every queue, open the store and start every in-process agent."""
        self._started = time.monotonic()
        await self.transport.connect()
        await self.store.open()
        self.recorder.record("run_start", pipeline=self.spec.name, seed=self.seed,
                             broker=redact_url(self.broker), store=redact_url(self.store_url),
                             registry=str(self.spec.registry_path),
                             budgets=self.spec.all_budgets(), fallbacks=self.spec.fallbacks(),
                             black_boxes={n: self.queue(a.queue) for n, a in
                                          sorted(self.blackbox.agents.items())}
                             if self.blackbox else None)
        for agent in self.spec.agents.values():
            await self.transport.declare(self.queue(agent.queue),
                                         delivery_limit=self.spec.delivery_limit)
        for agent in self.spec.agents.values():
            if agent.agent is None or agent.name in self.exclude:
                continue
            for i in range(agent.replicas):
                await self.start_agent(agent, instance=i)
        if self.blackbox is not None:
            try:
                await self.blackbox.start()
            except BaseException:
                await self.stop()
                raise

    def queue(self, name: str) -> str:
        """The broker queue name for an agent queue (with the run's prefix, except an
        ``external:`` agent's queue)."""
        return name if name in self._fixed_queues else self.prefix + name

    def route(self, message_type: str) -> list[str]:
        return [self.queue(q) for q in self.spec.queues_for(message_type)]

    def runtime_for(self, agent: AgentSpec, instance: int) -> AgentRuntime:
        if agent.agent is None:
            raise PipelineError(f"agent {agent.name} is a command, not in-process")
        return AgentRuntime(
            agent.agent, self.transport, self.registry, self.store, self.recorder, self.route,
            queue=self.queue(agent.queue), concurrency=agent.concurrency,
            dependencies=agent.dependencies, allow_fallback=agent.allow_fallback,
            params=agent.params, hooks=self.hooks, instance=instance, on_crash=self._on_crash)

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
        spec = self.spec.agents[runtime.agent.name]
        await self.start_agent(spec, instance=runtime.instance)

    async def restart_agent(self, name: str) -> None:
        """Stop and start every instance of an agent (unsettled work is redelivered)."""
        if self.blackbox is not None and name in self.blackbox.agents:
            await self.blackbox.restart(name)
            return
        for runtime in list(self.runtimes.get(name, [])):
            await runtime.stop()
            await self.start_agent(self.spec.agents[name], instance=runtime.instance)

    async def stop(self) -> None:
        """Stop agents, drain dead letters, snapshot the store, close everything."""
        if self.blackbox is not None:
            await self.blackbox.stop()
        for runtimes in self.runtimes.values():
            for runtime in runtimes:
                await runtime.stop()
        await self.drain_dead_letters()
        for dl in self._unrecorded:  # no agent is left to record them
            if dl.correlation_id not in self.terminal:
                self._record_dead_letter(dl, source="dlq")
        self._unrecorded = []
        try:
            await self.snapshot()
        finally:
            if self.blackbox is not None:
                await self.blackbox.drop_schemas()
        self.recorder.record("run_end", elapsed_s=round(time.monotonic() - self._started, 3))
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
        if isinstance(message, Envelope) and self.spec.consumers_of(message.type):
            mtype = message.type
        cid: str | None
        if isinstance(message, Envelope):
            body, cid, ids = message.to_bytes(), message.correlation_id, message.identities()
        else:
            ids = {**peek_identities(message), "correlation_id": correlation_id}
            body, cid = message, correlation_id
        if cid is None:
            raise ValueError("raw ingress bytes need a correlation_id")
        self.sent.setdefault(cid, time.monotonic())
        self.recorder.record("ingress", valid=valid, expect=expect,
                             body=None if valid else b64(body[:65536]), **ids)
        headers = {"x-correlation-id": cid, "x-message-type": mtype}
        for queue in self.route(mtype):
            await self.transport.publish(queue, body, headers=headers)
            if not getattr(self.transport, "records_publish", False):
                self.recorder.record("publish", queue=queue, producer="workload", **ids)

    # -- settling ------------------------------------------------------------------------------
    def _observe(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind not in ("outcome", "dead_letter"):
            return
        cid = event.get("correlation_id")
        if not cid or cid in self.terminal:
            return
        self.terminal[cid] = event.get("outcome", "dead_lettered")
        self.done_at[cid] = time.monotonic()
        if (self.sent and len(self.terminal) >= len(self.sent)  # O(1) guard, then the O(n) check
                and all(c in self.terminal for c in self.sent)):
            self._settled.set()

    async def drain_dead_letters(self) -> list[DeadLetter]:
        """Collect dead letters from every queue; record those the broker made itself."""
        found: list[DeadLetter] = []
        # A harness-made dead letter whose agent was cut off (crashed, restarted) after the
        # broker had it but before recording it: the DLQ is the truth, so it is recorded from
        # there when its correlation still has no fate one drain later.
        late, self._unrecorded = self._unrecorded, []
        for dl in late:
            if dl.correlation_id and dl.correlation_id not in self.terminal:
                self._record_dead_letter(dl, source="dlq")
        for agent in self.spec.agents.values():
            for dl in await self.transport.dead_letters(self.queue(agent.queue)):
                found.append(dl)
                if dl.reason in BROKER_DEAD_LETTER_REASONS:
                    self._record_dead_letter(dl, source="broker")
                elif dl.correlation_id and dl.correlation_id not in self.terminal:
                    self._unrecorded.append(dl)
        self.dead.extend(found)
        return found

    def _record_dead_letter(self, dl: DeadLetter, *, source: str) -> None:
        self.recorder.record(
            "dead_letter", queue=dl.queue, reason=dl.reason, detail=dl.detail,
            correlation_id=dl.correlation_id, body=b64(dl.body[:65536]),
            body_len=len(dl.body), source=source)

    async def settle(self, timeout: float = 60.0, *, poll: float = 0.1) -> bool:
        """Wait until every input sent has a terminal outcome or a dead letter."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sent and all(c in self.terminal for c in self.sent):
                return True
            await self.drain_dead_letters()
            self._settled.clear()
            try:
                await asyncio.wait_for(self._settled.wait(), timeout=poll)
            except TimeoutError:
                pass
        return all(c in self.terminal for c in self.sent)

    async def snapshot(self) -> dict[str, Any]:
        """Record and return the store's final state (effects and ledger)."""
        effects = await self.store.effects()
        ledger = await self.store.ledger()
        data = {"store": redact_url(self.store_url), "ledger": ledger,
                "effects": [{k: e[k] for k in ("key", "agent", "effect", "correlation_id")}
                            for e in effects]}
        if self.blackbox is not None and not self._probed:
            self._probed = True  # probe rows are recorded as effect events once
            seen = await self.blackbox.probe()
            data["effects"] += seen["effects"]
            debits = ledger["debits"] + seen["ledger"]["debits"]
            credits = ledger["credits"] + seen["ledger"]["credits"]
            data["ledger"] = {"debits": debits, "credits": credits,
                              "balanced": debits == credits,
                              "rows": ledger.get("rows", 0) + seen["ledger"]["rows"]}
        self.recorder.record("snapshot", **data)
        return data

    async def summary(self) -> RunSummary:
        """Outcomes counted from the store (truth) and the dead-letter queues."""
        await self.drain_dead_letters()
        effects = await self.store.effects()
        outcomes = {e["correlation_id"]: e["effect"].split(":", 1)[1]
                    for e in effects if e["effect"].startswith("outcome:")}
        if self.blackbox is not None and self.blackbox.router is not None:
            outcomes.update(self.blackbox.router.ended)  # ended by a black box's message
        dead_cids = {dl.correlation_id for dl in self.dead if dl.correlation_id}
        dead_cids |= {c for c, t in self.terminal.items() if t == "dead_lettered"}
        completed = sum(1 for c in self.sent if outcomes.get(c) == "completed")
        declined = sum(1 for c in self.sent if outcomes.get(c) == "declined")
        dead = sum(1 for c in self.sent if c not in outcomes and c in dead_cids)
        lost_ids = [c for c in self.sent if c not in outcomes and c not in dead_cids]
        applied = Counter(e["key"] for e in self.recorder.events
                          if e["kind"] == "effect" and e.get("applied"))
        latencies = [(self.done_at[c] - t0) * 1000 for c, t0 in self.sent.items()
                     if c in self.done_at and c in outcomes]
        ledger = await self.store.ledger()
        reasons = Counter(dl.reason for dl in self.dead)
        return RunSummary(
            transactions=len(self.sent), completed=completed, declined=declined,
            dead_lettered=dead, lost=len(lost_ids),
            duplicate_effects=sum(n - 1 for n in applied.values() if n > 1),
            ledger_balanced=bool(ledger["balanced"]),
            p50_ms=_round(percentile(latencies, 50)), p99_ms=_round(percentile(latencies, 99)),
            seed=self.seed, dead_letter_reasons=dict(sorted(reasons.items())),
            lost_ids=lost_ids[:20],
            fallbacks=sum(1 for e in self.recorder.events if e["kind"] == "fallback"),
            broker=self.broker if self.broker == "memory" else redact_url(self.broker),
            store=redact_url(self.store_url), elapsed_s=round(time.monotonic() - self._started, 3),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
