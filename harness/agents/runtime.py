"""The agent runtime: what happens around every handler call.

For each delivery, in order:

1. record ``deliver``; parse the envelope (bad bytes -> dead letter with the parser's reason);
2. check the (type, version) is one the agent consumes and validate the payload against the
   registry (-> dead letter ``unexpected_type`` / ``unknown_version`` / ``schema_invalid``);
3. run the handler under the agent's timeout; effects go through the idempotency store;
   on timeout, the agent's fallback handler runs if the pipeline allows it, else the delivery is
   returned for redelivery (the transport's delivery limit dead-letters a message that never
   succeeds);
   a handler that did not await a Context coroutine (``ctx.outcome``, ``ctx.effect``,
   ``ctx.call``) dead-letters the input as ``not_awaited`` naming the call;
4. validate every emitted envelope against the registry and the envelope size limit (an agent
   never forwards what its consumers would reject: a bad emission, or a type the agent does not
   declare, dead-letters the input with ``emitted_invalid``);
5. publish the emissions (confirmed), then ack. A crash anywhere before the ack leaves the
   message unacked, so the broker redelivers it; derived identities and the idempotency store
   make the retry safe.

Every step is recorded in the history. With ``intents`` (agents in their own OS processes, which
a SIGKILL can stop between two lines) an ``intent`` line precedes every effect's store commit and
every publish, so a checker can tell "committed or published, then the process died before
recording it" from a genuine unrecorded effect (docs/chaos.md, crash gaps). Fault hooks
(``hooks.at(point, ...)``) let the chaos layer crash the agent at ``delivered``,
``after_effect`` or ``before_ack``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import orjson

from harness.agents.context import Context, Dependency
from harness.agents.hold import hold_from_env
from harness.agents.published import published
from harness.agents.sdk import Agent
from harness.agents.stores import EffectStore, LedgerRow
from harness.contracts.registry import SchemaRegistry
from harness.envelope import MAX_ENVELOPE_BYTES, Envelope, peek_correlation_id
from harness.errors import EnvelopeError, ValidationFailed
from harness.fastjson import ascii_dumps, exact_json
from harness.history import Event, Recorder, b64
from harness.transport.base import Delivery, Subscription, Transport

__all__ = ["AgentCrash", "AgentRuntime", "Hooks", "Router"]

#: type -> queues that receive it
Router = Callable[[str], list[str]]


class AgentCrash(Exception):
    """Raised by a fault hook to crash the agent at a point (the delivery stays unacked)."""


class Hooks(Protocol):
    async def at(self, point: str, runtime: AgentRuntime, envelope: Envelope | None) -> None:
        """Called at ``delivered``, ``after_effect`` and ``before_ack``; may raise AgentCrash."""


class AgentRuntime:
    """Runs one agent instance on a transport.

    Args:
        agent: the agent.
        transport: where it consumes and publishes.
        registry: schemas for ingress and egress validation.
        store: the idempotency store for effects and outcomes.
        recorder: the history (a disabled Recorder records nothing).
        route: maps an emitted type to the queues that receive it.
        queue: the input queue (default: the agent's name).
        concurrency: deliveries handled at once.
        dependencies: declared dependencies with timeouts and fallbacks.
        allow_fallback: whether the agent's fallback handler may be used on timeout.
        params: free parameters from the pipeline file (``ctx.params``).
        hooks: fault hooks (chaos).
        instance: instance number when the agent is scaled out.
        on_crash: called when a hook crashes the agent (the supervisor restarts it).
        intents: record an ``intent`` before each effect commit and publish (and honour a
            test's ``HARNESS_TEST_HOLD_AT``): for agents in processes a SIGKILL can cut.
    """

    def __init__(
        self,
        agent: Agent,
        transport: Transport,
        registry: SchemaRegistry,
        store: EffectStore,
        recorder: Recorder,
        route: Router,
        *,
        queue: str | None = None,
        concurrency: int = 8,
        dependencies: dict[str, Dependency] | None = None,
        allow_fallback: bool = True,
        params: dict[str, Any] | None = None,
        hooks: Hooks | None = None,
        instance: int = 0,
        on_crash: Callable[[AgentRuntime, str], Awaitable[None]] | None = None,
        intents: bool = False,
    ) -> None:
        self.agent = agent
        self.transport = transport
        self.registry = registry
        self.store = store
        self.recorder = recorder
        #: ``record(kind, **fields)``: a history line naming this agent (a partial, so every
        #: hop's many lines pay no wrapper frame)
        self.record: Callable[..., Event | None] = partial(recorder.record, agent=agent.name)
        self.route = route
        self.queue = queue or agent.name
        self.concurrency = concurrency
        self.dependencies = dependencies or {}
        self.allow_fallback = allow_fallback
        self.params = params or {}
        self.hooks = hooks
        self.instance = instance
        self.on_crash = on_crash
        self.intents = intents
        self._hold = hold_from_env(agent.name) if intents else None
        self.cache: dict[str, Any] = {}
        #: emissions validated in this process (their consumer here need not validate again)
        self._published = published(registry)
        self._sub: Subscription | None = None
        self.crashed = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to the input queue (after building the validators of its messages)."""
        self.crashed = False
        for ref in (*self.agent.consumes, *self.agent.emits):
            self.registry.prepare(ref.type, ref.version)
        self._sub = await self.transport.consume(self.queue, self.handle, prefetch=self.concurrency)
        self.record("agent_start", version=self.agent.version, instance=self.instance)

    async def stop(self) -> None:
        """Stop consuming; unsettled deliveries go back to the queue."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.cancel()
            self.record("agent_stop", instance=self.instance)

    async def crash(self, reason: str) -> None:
        """Die like a process would: stop consuming without settling anything."""
        if self.crashed:
            return
        self.crashed = True
        self.record("agent_crash", reason=reason, instance=self.instance)
        sub, self._sub = self._sub, None
        if sub is not None:
            # cancel from a separate task: we may be running inside one of its handlers
            asyncio.get_running_loop().create_task(sub.cancel())
        if self.on_crash is not None:
            asyncio.get_running_loop().create_task(
                self.on_crash(self, reason))  # type: ignore[arg-type]

    # -- recording -----------------------------------------------------------------------------
    def _intent(self, **fields: Any) -> int | None:
        """Record an ``intent`` (with ``intents``); its index, which the result line names."""
        if not self.intents:
            return None
        event = self.record("intent", **fields)
        return None if event is None else int(event["index"])

    # -- the delivery path ---------------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        """Process one delivery (the transport's consumer callback)."""
        started = time.monotonic()
        body = delivery.body
        vouched = self._published.take(body) if self._published is not None else None
        try:
            envelope = Envelope.from_bytes(body, canonical=vouched is not None)
        except EnvelopeError as exc:
            cid = peek_correlation_id(body) or _header_str(delivery, "x-correlation-id")
            self.record("deliver", queue=delivery.queue, delivery_count=delivery.delivery_count,
                        correlation_id=cid)
            await self._dead_letter(delivery, exc.reason, str(exc), cid)
            return
        ids = envelope.identities()
        name = self.agent.name
        self.record("deliver", queue=delivery.queue, delivery_count=delivery.delivery_count,
                    **ids)
        try:
            if self.hooks is not None:
                await self.hooks.at("delivered", self, envelope)
            self._validate_ingress(envelope, vouched)
        except ValidationFailed as exc:
            await self._dead_letter(delivery, exc.reason, exc.detail, envelope.correlation_id, ids)
            return
        except AgentCrash as exc:
            await self.crash(str(exc))
            return
        ctx = Context(self, envelope, attempt=delivery.delivery_count)
        try:
            await self._run_handler(ctx)
            missed = ctx.unawaited()
            if missed:
                await self._dead_letter(
                    delivery, "not_awaited", f"the handler of agent {self.agent.name} did not "
                    f"await {', '.join(missed)} (a coroutine: write await {missed[0]})",
                    envelope.correlation_id, ids)
                return
            emissions = ctx._emitted
            bodies = [self._egress(emitted) for emitted in emissions]
        except ValidationFailed as exc:
            ctx.unawaited()
            await self._dead_letter(delivery, "emitted_invalid", exc.detail,
                                    envelope.correlation_id, ids)
            return
        except AgentCrash as exc:
            ctx.unawaited()
            await self.crash(str(exc))
            return
        except Exception as exc:
            missed = ctx.unawaited()
            hint = f" (and it did not await {', '.join(missed)})" if missed else ""
            self.record("nack", queue=delivery.queue, requeue=True,
                        error=f"{type(exc).__name__}: {str(exc)[:200]}{hint}", **ids)
            await delivery.nack(requeue=True)
            return
        try:
            record_here = not getattr(self.transport, "records_publish", False)
            for emitted, body in zip(emissions, bodies, strict=True):
                headers = {"x-correlation-id": emitted.correlation_id,
                           "x-message-type": emitted.type}
                eids = emitted.identities()
                intent = self._intent(of="publish", producer=name, **eids) \
                    if self.intents else None
                for queue in self.route(emitted.type):
                    await self.transport.publish(queue, body, headers=headers)
                    if self._hold is not None:
                        await self._hold.at("published", name,
                                            emitted.correlation_id, emitted.message_id)
                    if record_here:  # else the transport records its own publishes
                        self.record("publish", queue=queue, producer=name, intent=intent,
                                    **eids)
            if self.hooks is not None:
                await self.hooks.at("before_ack", self, envelope)
        except AgentCrash as exc:
            await self.crash(str(exc))
            return
        await delivery.ack()
        self.record("ack", queue=delivery.queue,
                    latency_ms=round((time.monotonic() - started) * 1000, 3),
                    fallback=ctx.used_fallback or None, **ids)

    async def _run_handler(self, ctx: Context) -> None:
        agent = self.agent
        if agent.fn is None:
            raise RuntimeError(f"agent {agent.name} has no handler")
        try:
            async with asyncio.timeout(agent.timeout):  # no extra task per call (hot path)
                await agent.fn(ctx, ctx.message)
        except TimeoutError:
            if agent.fallback_fn is None or not self.allow_fallback:
                raise
            self.record("fallback", dependency="handler", reason="timeout",
                        **ctx.message.identities())
            ctx._clear_emitted()
            ctx.used_fallback = True
            await asyncio.wait_for(agent.fallback_fn(ctx, ctx.message), timeout=agent.timeout)

    def _egress(self, envelope: Envelope) -> bytes:
        """Validate an emitted envelope as its consumers will, and return its bytes."""
        self._validate(envelope, direction="egress")
        body, canonical = envelope.encode()
        if len(body) > MAX_ENVELOPE_BYTES:
            raise ValidationFailed("too_large", f"emitted {envelope.type} is {len(body)} bytes, "
                                   f"over the {MAX_ENVELOPE_BYTES}-byte envelope limit")
        if canonical and self._published is not None:
            self._published.add(body, envelope.type, envelope.schema_version, envelope.payload)
        return body

    def _validate_ingress(self, envelope: Envelope,
                          vouched: tuple[str, int] | None = None) -> None:
        """The agent consumes the envelope's (type, version) and its payload is valid (already
        known for ``vouched`` bytes: validated as that (type, version) by their producer in this
        process, against this registry: harness/agents/published.py)."""
        if not self.agent.validate_ingress:
            return  # an agent that trusts its input (bug-zoo variants; never in production)
        versions = self.agent.consumed_versions(envelope.type)
        if not versions:
            accepted = ", ".join(map(str, self.agent.consumes))
            raise ValidationFailed("unexpected_type", f"agent {self.agent.name} does not consume "
                                   f"{envelope.type} (consumes {accepted})", path="#/type")
        if envelope.schema_version not in versions:
            raise ValidationFailed("unknown_version", f"agent {self.agent.name} consumes "
                                   f"{envelope.type} v{versions} not v{envelope.schema_version}",
                                   path="#/schema_version")
        if vouched != (envelope.type, envelope.schema_version):
            self._validate(envelope, direction="ingress")

    def _validate(self, envelope: Envelope, *, direction: str) -> None:
        # the registry's compiled fast path makes this cheap on every hop (contracts/compiled.py)
        self.registry.validate(envelope.type, envelope.schema_version, envelope.payload)

    async def _dead_letter(self, delivery: Delivery, reason: str, detail: str,
                           correlation_id: str | None, ids: dict[str, Any] | None = None) -> None:
        await delivery.dead_letter(reason, detail, correlation_id=correlation_id)
        fields = dict(ids or {})
        fields["correlation_id"] = correlation_id
        self.record("dead_letter", queue=delivery.queue, reason=reason, detail=detail[:500],
                    body=b64(delivery.body) if len(delivery.body) <= 65536 else None,
                    body_len=len(delivery.body), **fields)

    async def apply_effect(self, ctx: Context, name: str, key: str, data: Any,
                           rows: tuple[LedgerRow, ...], *, outcome: str | None = None) -> bool:
        """Apply through the store and record it; crash hooks run right after."""
        env = ctx.message
        small = _small_json(data)
        ids = env.identities()
        intent = self._intent(of="effect", effect=name, key=key, outcome=outcome, data=small,
                              **ids) if self.intents else None
        applied = await self.store.apply(key, agent=self.agent.name, effect=name,
                                         correlation_id=env.correlation_id, data=data, rows=rows)
        if self._hold is not None and applied:  # a skipped duplicate commits nothing
            await self._hold.at("committed", self.agent.name, env.correlation_id, key)
        self.record("effect", effect=name, key=key, applied=applied,
                    amount=sum(r.debit for r in rows) or None, data=small, intent=intent, **ids)
        if outcome is not None and applied:
            self.record("outcome", outcome=outcome, correlation_id=env.correlation_id,
                        message_id=env.message_id)
        if self.hooks is not None:
            await self.hooks.at("after_effect", self, env)
        return applied


def _small_json(data: Any, limit: int = 2048) -> Any:
    """An effect's data as recorded in the history (checkers read business keys and user
    invariants from it): JSON values up to ``limit`` bytes, else None."""
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    raw = ascii_dumps(data) if exact_json(data, floats=False) else None
    if raw is not None:  # json.dumps's text, by orjson
        return orjson.loads(raw) if len(raw) <= limit else None
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= limit else None  # a copy: the agent may mutate


def _header_str(delivery: Delivery, name: str) -> str | None:
    value = delivery.headers.get(name) if delivery.headers else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:512] if isinstance(value, str) and value else None
