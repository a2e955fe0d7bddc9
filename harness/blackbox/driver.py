"""Drive one black-box agent through its queue, one input at a time (contracts and fuzzing).

:class:`BlackBoxDriver` has the face of :class:`harness.agents.probe.AgentProbe` (``agent``,
``registry``, ``store``, ``timeout``, ``start``/``stop``/``send`` -> ``ProbeResult``), so pact
verification and the ingress fuzzer judge a running service the way they judge an SDK agent,
from the outside only:

- the input is published to the agent's queue (the harness declared it, with its DLQ);
- what the agent publishes to its exchange is captured by the harness's router (recorded with
  its bytes; nothing is forwarded: the driver runs the agent alone);
- a rejected input reaches the DLQ with the broker's ``x-death``; the driver reports it as the
  agent's ingress rejection (reason ``rejected_at_ingress``), its bytes as the broker kept them;
- the process must stay alive: an exit is reported as an ``agent_crash`` event of that input;
- effect rows that appeared in the agent's ``effects`` probe since the example began (the
  fuzzer's ``store.reset()``) are its effects: a benign twin sent with the same identities
  after the input sees the same effects, as it would from an SDK agent's store.

An input is settled when it was dead-lettered, or when the agent published something caused by
it and its queue is empty; an input that does neither within ``timeout`` ends ``timeout``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from typing import Any

from harness.agents.probe import ProbeResult
from harness.agents.sdk import Agent
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope
from harness.errors import InputError
from harness.history import Recorder
from harness.pipeline import AgentSpec, PipelineSpec
from harness.transport.base import DeadLetter

__all__ = ["BlackBoxDriver", "DriverSession", "agent_of"]

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/"


def agent_of(spec: AgentSpec) -> Agent:
    """An SDK-shaped description (name, version, consumes, emits) of a black box."""
    return Agent(spec.name, "black-box", consumes=list(spec.consumes), emits=list(spec.emits),
                 timeout=spec.timeout)


class _ProbeStore:
    """``store`` for the fuzzer: the agent's effect rows, read through its probes."""

    def __init__(self, driver: BlackBoxDriver) -> None:
        self.driver = driver

    async def reset(self) -> None:
        """A new example starts: effects are counted from the rows there now."""
        self.driver.baseline = {str(r["key"]) for r in await self.driver.effect_rows()}

    async def effects(self) -> list[dict[str, Any]]:
        return await self.driver.effect_rows()


class BlackBoxDriver:
    """One black box of ``spec`` started alone on ``broker``, fed one input at a time."""

    def __init__(self, spec: PipelineSpec, name: str, *, broker: str | None = None,
                 registry: SchemaRegistry | None = None, timeout: float = 10.0) -> None:
        if name not in spec.agents or not spec.agents[name].is_black_box:
            raise InputError(f"{name} is not a black-box agent of {spec.name}",
                             where=str(spec.path))
        self.spec = spec
        self.name = name
        self.agent_spec = spec.agents[name]
        self.agent = agent_of(self.agent_spec)
        self.broker = broker or DEFAULT_BROKER
        self.registry = registry or SchemaRegistry(spec.registry_path)
        self.timeout = timeout
        self.store = _ProbeStore(self)
        self.recorder = Recorder()
        self.run: Any = None
        self._published: list[dict[str, Any]] = []
        #: effect keys present before the current example (see _ProbeStore.reset)
        self.baseline: set[str] = set()

    async def __aenter__(self) -> BlackBoxDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from harness.run import PipelineRun

        if self.run is not None:
            return
        others = tuple(n for n in self.spec.agents if n != self.name)
        self.recorder.listeners.append(self._on_event)
        self.run = PipelineRun(self.spec, broker=self.broker, recorder=self.recorder,
                               exclude=others, store="memory",
                               run_dir=tempfile.mkdtemp(prefix="harness-blackbox-"))
        await self.run.start()

    async def stop(self) -> None:
        if self.run is not None:
            run, self.run = self.run, None
            await run.stop()

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["kind"] == "publish" and event.get("producer") == self.name:
            self._published.append(event)

    async def effect_rows(self) -> list[dict[str, Any]]:
        from harness.blackbox.probes import run_probe

        bb = self.run.blackbox if self.run is not None else None
        rows: list[dict[str, Any]] = []
        for probe in self.agent_spec.blackbox.probes:
            if probe.kind == "effects" and bb is not None:
                rows += await run_probe(probe, database_url=bb.database_url,
                                        schema=bb.schemas.get(self.name),
                                        expand={"prefix": self.run.prefix, "agent": self.name})
        return rows

    async def send(self, message: Envelope | bytes, *,
                   headers: dict[str, Any] | None = None) -> ProbeResult:
        """Publish one input to the agent's queue and wait until it settles (module docstring)."""
        if self.run is None:
            await self.start()
        run = self.run
        bb = run.blackbox
        body = message.to_bytes() if isinstance(message, Envelope) else message
        hdrs = dict(headers or {})
        if isinstance(message, Envelope):
            hdrs.setdefault("x-correlation-id", message.correlation_id)
            hdrs.setdefault("x-message-type", message.type)
        mid = message.message_id if isinstance(message, Envelope) else None
        cid = hdrs.get("x-correlation-id")
        proc = bb.processes.get(self.name)
        starts = proc.starts if proc else 0
        first = len(self._published)
        queue = run.queue(self.agent_spec.queue)
        await run.transport.publish(queue, body, headers=hdrs)
        result = ProbeResult()
        dead: list[DeadLetter] = []
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            dead += await run.transport.dead_letters(queue)
            mine = [e for e in self._published[first:]
                    if (mid and e.get("causation_id") == mid) or
                    (cid and e.get("correlation_id") == cid)]
            crashed = proc is not None and (proc.exit_code() is not None or proc.starts > starts)
            if dead or crashed:
                break
            if mine and not (await bb.queue_stats(queue))[0] and await bb.idle():
                await asyncio.sleep(0.05)  # the rest of its emissions for this input
                break
            await asyncio.sleep(0.01)
        emitted = [e for e in self._published[first:]
                   if not mid or e.get("causation_id") in (mid, None)]
        seen: set[str] = set()
        for event in emitted:
            raw = _body(event)
            try:
                env = Envelope.from_bytes(raw)
            except InputError:
                result.events.append({"kind": "nack", "error": "published bytes that are not "
                                      f"an envelope: {raw[:60]!r}"})
                continue
            if env.message_id not in seen:
                seen.add(env.message_id)
                result.emitted.append(env)
        for dl in dead:
            if dl.reason == "rejected":  # the black box's own rejection of its input
                dl = replace(dl, reason="rejected_at_ingress",
                             detail=dl.detail or "rejected without requeue")
            result.dead_letters.append(dl)
        if proc is not None and (proc.exit_code() is not None or proc.starts > starts):
            result.events.append({"kind": "agent_crash", "agent": self.name,
                                  "reason": f"process exited ({proc.last_exit})"})
            await self._await_restart()
        after = await self.effect_rows()
        result.effects = [{"kind": "effect", "applied": True, "source": "probe", **r}
                          for r in after if str(r["key"]) not in self.baseline]
        result.events += result.effects
        crashed = any(e["kind"] == "agent_crash" for e in result.events)
        result.outcome = ("dead_lettered" if dead else "acked" if result.emitted
                          else "requeued" if crashed else "timeout")
        result.settled = result.outcome != "timeout"
        return result

    async def _await_restart(self) -> None:
        """After a crash: until the supervisor's new process consumes again (bounded)."""
        bb = self.run.blackbox
        deadline = time.monotonic() + self.agent_spec.blackbox.start_timeout
        while time.monotonic() < deadline:
            if await bb.consumers(self.agent_spec) > 0:
                return
            await asyncio.sleep(0.05)


def _body(event: dict[str, Any]) -> bytes:
    import base64

    raw = event.get("body")
    return base64.b64decode(raw) if raw else b""


class DriverSession:
    """A :class:`BlackBoxDriver` on its own event loop thread, for synchronous callers (the
    pact verifier's message handler): the service is started once for every interaction."""

    def __init__(self, driver: BlackBoxDriver) -> None:
        import threading

        self.driver = driver
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="black-box driver",
                                       daemon=True)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def __enter__(self) -> DriverSession:
        self.thread.start()
        try:
            self._call(self.driver.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def send(self, envelope: Envelope) -> ProbeResult:
        return self._call(self.driver.send(envelope))

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self.driver.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()
