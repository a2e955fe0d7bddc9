"""Run one agent on single inputs, through its real runtime, and see what it did.

Used by consumer/provider contract tests, the fuzzer and unit tests::

    async with AgentProbe(fraud, registry) as probe:
        result = await probe.send(envelope)          # or raw bytes
        result.emitted        # envelopes it published (validated on the way out)
        result.dead_letters   # DeadLetter objects (reason, original bytes, correlation id)
        result.effects        # effect events recorded
        result.crashed        # an exception escaped / the agent crashed

Everything goes through the same :class:`AgentRuntime` as a real run, on the memory transport.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from harness.agents.runtime import AgentRuntime, Hooks
from harness.agents.sdk import Agent
from harness.agents.stores import EffectStore, MemoryStore
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope
from harness.history import Recorder
from harness.transport.base import DeadLetter
from harness.transport.memory import MemoryTransport

__all__ = ["AgentProbe", "ProbeResult"]

_OUT = "probe.out"
#: history events that end an input's delivery
_SETTLED = frozenset({"ack", "dead_letter", "nack", "agent_crash"})


def _resolve(future: asyncio.Future[str], kind: str) -> None:
    if not future.done():
        future.set_result(kind)


@dataclass
class ProbeResult:
    """What one input did.

    Attributes:
        emitted: envelopes the agent published.
        dead_letters: what it dead-lettered (its own input).
        effects: ``effect`` history events.
        events: every history event of this input.
        settled: the input was acked or dead-lettered within the timeout.
        outcome: ``acked``, ``dead_lettered``, ``requeued`` (handler failed) or ``timeout``.
    """

    emitted: list[Envelope] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    settled: bool = False
    outcome: str = "timeout"

    @property
    def dead_lettered(self) -> bool:
        return bool(self.dead_letters)


class AgentProbe:
    """One agent on a private memory transport, fed one input at a time.

    Args:
        agent: the agent under test.
        registry: the schema registry.
        store: idempotency store (default: a fresh memory store, kept across inputs).
        timeout: seconds to wait for each input to settle.
        params: ``ctx.params`` for the agent.
        hooks: fault hooks.
    """

    def __init__(self, agent: Agent, registry: SchemaRegistry, *, store: EffectStore | None = None,
                 timeout: float = 5.0, params: dict[str, Any] | None = None,
                 hooks: Hooks | None = None, dependencies: dict[str, Any] | None = None) -> None:
        self.agent = agent
        self.registry = registry
        self.store = store or MemoryStore()
        self.timeout = timeout
        self.recorder = Recorder()
        self.transport = MemoryTransport()
        self.queue = f"probe.{agent.name}"
        self.runtime = AgentRuntime(agent, self.transport, registry, self.store, self.recorder,
                                    lambda _t: [_OUT], queue=self.queue, concurrency=1,
                                    params=params, hooks=hooks, dependencies=dependencies)
        self._started = False

    async def __aenter__(self) -> AgentProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.transport.declare(self.queue, delivery_limit=0)
        await self.transport.declare(_OUT)
        await self.store.open()
        await self.runtime.start()
        self._started = True

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.transport.close()

    async def send(self, message: Envelope | bytes, *,
                   headers: dict[str, Any] | None = None) -> ProbeResult:
        """Deliver one input and wait until the agent settles it (ack, dead letter, failure).

        The input queue has a delivery limit of 0, so a handler that fails is not retried
        forever: its message goes to the DLQ with reason ``delivery_limit``.
        """
        if not self._started:
            await self.start()
        body = message.to_bytes() if isinstance(message, Envelope) else message
        hdrs = dict(headers or {})
        if isinstance(message, Envelope):
            hdrs.setdefault("x-correlation-id", message.correlation_id)
        first = len(self.recorder.events)
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[str] = loop.create_future()
        owner = threading.get_ident()

        def on_event(event: dict[str, Any]) -> None:  # woken by the event, not by polling
            kind = event["kind"]
            if kind in _SETTLED and not settled.done():
                if threading.get_ident() == owner:
                    settled.set_result(kind)
                else:  # recorded from a handler's worker thread
                    loop.call_soon_threadsafe(_resolve, settled, kind)

        self.recorder.listeners.append(on_event)
        try:
            await self.transport.publish(self.queue, body, headers=hdrs)
            timer = loop.call_later(self.timeout, _resolve, settled, "timeout")
            await settled
            timer.cancel()
        finally:
            self.recorder.listeners.remove(on_event)
        result = ProbeResult()
        kinds = {e["kind"] for e in self.recorder.events[first:]}
        if kinds & _SETTLED:
            result.settled = True
            result.outcome = ("acked" if "ack" in kinds else
                              "dead_lettered" if "dead_letter" in kinds else "requeued")
        await asyncio.sleep(0)
        result.events = self.recorder.events[first:]
        result.effects = [e for e in result.events if e["kind"] == "effect"]
        result.dead_letters = await self.transport.dead_letters(self.queue)
        while await self.transport.depth(_OUT):
            result.emitted.append(await self._pop_out())
        if self.runtime.crashed:
            await self.runtime.start()
        return result

    async def _pop_out(self) -> Envelope:
        queue = self.transport.broker.queue(_OUT)
        msg = queue.ready.popleft()
        return Envelope.from_bytes(msg.body)
