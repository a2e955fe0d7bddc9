"""Message and process faults, written into the same history as everything else.

- :class:`FaultyTransport` wraps any :class:`~harness.transport.base.Transport`. On every
  publish it first records a ``publish`` event carrying the bytes (the wire tap the ``wire`` and
  ``dead_letters`` checkers read), then applies the message faults active for the target queue:
  duplicate, delay, reorder, drop, poison, drift. No broker or proxy offers these for messages,
  so the harness does them itself.
- :class:`ChaosHooks` is the runtime's fault hook (``Hooks.at``): crash an agent on delivery,
  after its effect or before its ack (the delivery stays unacked and is redelivered), pause it,
  and make its in-process dependencies slow or down (:func:`dependency_delay`).

Every fault is recorded as ``fault_start``/``fault_end`` with ``fault``, ``fault_id``, ``target``
and, for per-message faults, the message's ``message_id`` and ``correlation_id``; ``poison`` and
``drift`` also record the bytes they put on the wire (``body``).

``resubmit`` publishes the message and then a resubmission of it: the same payload and
idempotency key under a new message id (``params: {correlation: new}`` also gives it a new
correlation id, as a client's retry of the same request arrives). Its ``fault_start`` names the
copy (``copy_message_id``, ``copy_correlation_id``, ``body``).

``drop`` has two modes (see docs/chaos.md): ``confirm`` (default) loses the publisher confirm:
the broker has the message but the publisher gets an error and retries, a duplicate the pipeline
must tolerate; ``lose`` silently loses the message, which ``no_loss`` must catch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from harness.agents.runtime import AgentCrash, AgentRuntime
from harness.chaos.fault_registry import FAULTS
from harness.chaos.schedule import MESSAGE_FAULTS, PlannedFault, decide, fraction, message_key
from harness.envelope import Envelope, derive_id
from harness.errors import TransportError
from harness.history import Recorder, b64
from harness.transport.base import DeadLetter, Handler, Subscription, Transport

__all__ = [
    "ChaosHooks",
    "FaultyTransport",
    "Hops",
    "dependency_delay",
    "poison_bytes",
    "resubmission",
]

MAX_BODY = 65536
_CRASH_POINTS = {k.name: k.point for k in FAULTS.values() if k.family == "crash"}


def _identities(body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body)
        producer = raw.get("producer") or {}
        return {
            "message_id": raw.get("message_id"),
            "correlation_id": raw.get("correlation_id"),
            "causation_id": raw.get("causation_id"),
            "type": raw.get("type"),
            "schema_version": raw.get("schema_version"),
            "idempotency_key": raw.get("idempotency_key"),
            "producer": producer.get("agent") if isinstance(producer, dict) else None,
        }
    except Exception:
        return {}


class Hops:
    """How many handoffs each message is from its correlation's ingress input (hop 0).

    A message's hop is its cause's plus one; causes are always seen first (a message is
    published, and delivered, only after the one that caused it), so no lookahead is needed.
    """

    def __init__(self) -> None:
        self._hop: dict[str, int] = {}

    def see(self, ids: dict[str, Any]) -> int | None:
        """Note a message's identities; return its hop (None when its cause was never seen)."""
        mid, cause = ids.get("message_id"), ids.get("causation_id")
        if not isinstance(mid, str):
            return None
        if mid in self._hop:
            return self._hop[mid]
        hop = 0 if not cause else (None if cause not in self._hop else self._hop[cause] + 1)
        if hop is not None:
            self._hop[mid] = hop
        return hop


def poison_bytes(body: bytes, seed: int, fault_id: str) -> bytes:
    """Malformed bytes made from a message (deterministic for the seed and fault)."""
    cut = 10 + int(fraction(seed, fault_id, body[:64]) * max(1, len(body) - 20))
    garbage = [b"\xff\xfe", b"{{", b"\x00", b"}"][int(fraction(seed, "g", fault_id) * 4)]
    return body[:cut] + garbage


class FaultyTransport(Transport):
    """A transport wrapper that records every publish and applies message faults.

    Args:
        inner: the real transport.
        recorder: the run's history.
        plan: the planned faults (only those in MESSAGE_FAULTS are used here).
        seed: the run's seed (per-message decisions).
        queue_of: maps a fault target (agent name) to the broker queue name.
        clock: seconds since the run started.
        run_tag: the random tag in the workload's correlation ids on a real broker, and
        prefix: the run's queue prefix: both left out of per-message decisions, so the seed
            alone decides (:func:`harness.chaos.schedule.message_key`).
    """

    records_publish = True

    def __init__(
        self,
        inner: Transport,
        recorder: Recorder,
        plan: list[PlannedFault],
        seed: int,
        *,
        queue_of: Callable[[str], str] = lambda name: name,
        clock: Callable[[], float] | None = None,
        run_tag: str = "",
        prefix: str = "",
    ) -> None:
        self.inner = inner
        self.run_tag = run_tag
        self.prefix = prefix
        self.name = inner.name
        self.recorder = recorder
        self.seed = seed
        self.faults = [f for f in plan if f.fault in MESSAGE_FAULTS]
        self.queue_of = queue_of
        self._t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - self._t0)
        self.fired: dict[str, int] = {}
        self._done: set[tuple[str, str]] = set()
        self.hops = Hops()
        self._pending: list[dict[str, Any]] = []
        self._releaser: asyncio.Future[None] | None = None
        self.enabled = True

    def start_clock(self) -> None:
        self._t0 = time.monotonic()

    # -- pass-through ----------------------------------------------------------------------------
    async def connect(self) -> None:
        await self.inner.connect()

    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        await self.inner.declare(queue, delivery_limit=delivery_limit)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        return await self.inner.consume(queue, handler, prefetch=prefetch)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        return await self.inner.dead_letters(queue)

    async def depth(self, queue: str) -> int:
        return await self.inner.depth(queue)

    async def purge(self, queue: str) -> None:
        await self.inner.purge(queue)

    async def close(self) -> None:
        await self.heal()
        await self.inner.close()

    # -- faults ----------------------------------------------------------------------------------
    def _targets(self, fault: PlannedFault, queue: str) -> bool:
        return fault.target in ("*", "") or self.queue_of(fault.target) == queue

    def _eligible(
        self,
        fault: PlannedFault,
        queue: str,
        ids: dict[str, Any],
        mid: str,
        hop: int | None,
        t: float,
    ) -> bool:
        """Whether ``fault`` may be drawn for this message (window, target, pin, max; a retry
        of a message it already hit passes through)."""
        if not fault.active(t) or not self._targets(fault, queue):
            return False
        if not fault.matches(ids.get("message_id"), ids.get("correlation_id"), hop):
            return False
        if (fault.id, mid) in self._done:
            return False
        return fault.max is None or self.fired.get(fault.id, 0) < fault.max

    def _record(
        self, kind: str, fault: PlannedFault, ids: dict[str, Any], queue: str, **extra: Any
    ) -> None:
        self.recorder.record(
            kind,
            fault=fault.fault,
            fault_id=fault.id,
            target=queue,
            message_id=ids.get("message_id"),
            correlation_id=ids.get("correlation_id"),
            **extra,
        )

    async def publish(
        self, queue: str, body: bytes, *, headers: dict[str, Any] | None = None
    ) -> None:
        headers = dict(headers or {})
        ids = _identities(body)
        if not ids.get("correlation_id") and headers.get("x-correlation-id"):
            ids["correlation_id"] = headers["x-correlation-id"]
        if headers.get("x-harness-producer"):  # routed by the harness: it knows the publisher
            ids["producer"] = headers["x-harness-producer"]
        self.recorder.record(
            "publish",
            queue=queue,
            body=b64(body) if len(body) <= MAX_BODY else None,
            body_len=len(body),
            **{k: v for k, v in ids.items()},
        )
        mid = ids.get("message_id") or ids.get("correlation_id") or b64(body[:48])
        hop = self.hops.see(ids)
        t = self.clock()
        chosen = None
        key = message_key(ids, mid, run_tag=self.run_tag, hop=hop)
        where = queue.removeprefix(self.prefix) if self.prefix else queue
        if self.enabled:
            drawn = [
                f
                for f in self.faults
                if self._eligible(f, queue, ids, mid, hop, t)
                and decide(self.seed, f.probability, f.id, key, where)
            ]
            if drawn:  # one fault per message: the one that has fired least (then file order)
                chosen = min(drawn, key=lambda f: self.fired.get(f.id, 0))
                self._done.add((chosen.id, mid))
                self.fired[chosen.id] = self.fired.get(chosen.id, 0) + 1
        if chosen is None:
            await self.inner.publish(queue, body, headers=headers)
            await self._flush_held(queue)
            return
        await self._apply(chosen, queue, body, headers, ids, mid, key)

    async def _apply(
        self,
        fault: PlannedFault,
        queue: str,
        body: bytes,
        headers: dict[str, Any],
        ids: dict[str, Any],
        mid: str,
        key: str,
    ) -> None:
        kind, p = fault.fault, fault.params
        if kind == "duplicate":
            copies = int(p.get("copies", 1))
            self._record("fault_start", fault, ids, queue, copies=copies)
            await self.inner.publish(queue, body, headers=headers)
            for _ in range(copies):
                await self.inner.publish(queue, body, headers=headers)
            self._record("fault_end", fault, ids, queue)
        elif kind == "delay":
            lo, hi = _range(p.get("ms", 100))
            ms = lo + (hi - lo) * fraction(self.seed, fault.id, key, "delay")
            self._record("fault_start", fault, ids, queue, params={"ms": round(ms, 1)})
            self._hold(queue, body, headers, fault, ids, due=time.monotonic() + ms / 1000)
        elif kind == "reorder":
            self._record("fault_start", fault, ids, queue)
            hold = float(p.get("max_hold_ms", 100)) / 1000
            self._hold(queue, body, headers, fault, ids, due=time.monotonic() + hold, reorder=True)
        elif kind == "drop":
            mode = p.get("mode", "confirm")
            self._record("fault_start", fault, ids, queue, mode=mode)
            if mode == "lose":
                self._record("fault_end", fault, ids, queue, mode=mode)
                return
            await self.inner.publish(queue, body, headers=headers)
            self._record("fault_end", fault, ids, queue, mode=mode)
            raise TransportError(f"publisher confirm for {queue} lost (fault {fault.id})")
        elif kind == "poison":
            bad = poison_bytes(body, self.seed, fault.id)
            self._record("fault_start", fault, ids, queue, body=b64(bad))
            await self.inner.publish(queue, bad, headers=headers)
            self._record("fault_end", fault, ids, queue)
        elif kind == "resubmit":
            copy = resubmission(body, p, fault.id)
            if copy is None:  # not an envelope: nothing to resubmit
                self._unfire(fault, mid)
                await self.inner.publish(queue, body, headers=headers)
                return
            new_body, copy_mid, copy_cid = copy
            self._record(
                "fault_start",
                fault,
                ids,
                queue,
                copy_message_id=copy_mid,
                copy_correlation_id=copy_cid,
                body=b64(new_body),
            )
            await self.inner.publish(queue, body, headers=headers)
            await self.inner.publish(
                queue, new_body, headers={**headers, "x-correlation-id": copy_cid}
            )
            self._record("fault_end", fault, ids, queue)
        elif kind == "drift":
            drifted = _drift(body, p)
            if drifted is None:  # not an envelope: nothing to drift
                self._unfire(fault, mid)
                await self.inner.publish(queue, body, headers=headers)
                return
            new_body, version = drifted
            self._record(
                "fault_start",
                fault,
                ids,
                queue,
                body=b64(new_body),
                params={"schema_version": version},
            )
            await self.inner.publish(queue, new_body, headers=headers)
            self._record("fault_end", fault, ids, queue)
        else:  # pragma: no cover - plan() only lets MESSAGE_FAULTS through
            await self.inner.publish(queue, body, headers=headers)

    def _unfire(self, fault: PlannedFault, mid: str) -> None:
        """``fault`` was drawn for a message it cannot act on: it did not fire."""
        self._done.discard((fault.id, mid))
        self.fired[fault.id] -= 1

    def _hold(
        self,
        queue: str,
        body: bytes,
        headers: dict[str, Any],
        fault: PlannedFault,
        ids: dict[str, Any],
        *,
        due: float,
        reorder: bool = False,
    ) -> None:
        self._pending.append(
            {
                "queue": queue,
                "body": body,
                "headers": headers,
                "fault": fault,
                "ids": ids,
                "due": due,
                "reorder": reorder,
                "done": False,
            }
        )
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.ensure_future(self._release_loop())

    async def _release_loop(self) -> None:
        while self._pending:
            await asyncio.sleep(0.002)
            try:
                await self.release_due()
            except Exception:  # the broker refused: try again on the next tick
                await asyncio.sleep(0.05)

    async def _release(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            if item["done"]:
                continue
            item["done"] = True
            try:
                await self.inner.publish(item["queue"], item["body"], headers=item["headers"])
            except BaseException:
                item["done"] = False  # not published: it stays held and is retried
                raise
            self._record("fault_end", item["fault"], item["ids"], item["queue"])
        self._pending = [i for i in self._pending if not i["done"]]

    async def release_due(self, *, force: bool = False) -> None:
        """Publish held messages whose time has come (all of them with ``force``)."""
        now = time.monotonic()
        await self._release([i for i in self._pending if force or i["due"] <= now])

    async def _flush_held(self, queue: str) -> None:
        """A message went to ``queue``: the reordered ones held for it may follow now. They go
        out from the releaser task, never from the publisher's (an agent's task may be cancelled
        by a crash half way)."""
        due = False
        for item in self._pending:
            if item["reorder"] and item["queue"] == queue and not item["done"]:
                item["due"] = 0.0
                due = True
        if due and (self._releaser is None or self._releaser.done()):
            self._releaser = asyncio.ensure_future(self._release_loop())

    async def heal(self) -> None:
        """Stop injecting; release every held and delayed message."""
        self.enabled = False
        await self.release_due(force=True)

    async def pending(self) -> int:
        """Messages the faults are still holding back."""
        return sum(1 for i in self._pending if not i["done"])


def _range(value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return float(value), float(value)


def resubmission(
    body: bytes, params: dict[str, Any], fault_id: str
) -> tuple[bytes, str, str] | None:
    """A resubmitted copy of an envelope: same payload and idempotency key, a new message id
    (and a new correlation id with ``correlation: new``); None when ``body`` is no envelope."""
    try:
        raw = json.loads(body)
        mid, cid = str(raw["message_id"]), str(raw["correlation_id"])
    except Exception:
        return None
    if not raw.get("idempotency_key"):
        return None  # a resubmission keeps the idempotency key: no key, no resubmission
    raw["message_id"] = derive_id("resubmit", mid, fault_id)
    if params.get("correlation", "same") == "new":
        raw["correlation_id"] = f"{cid}~retry-{derive_id('retry', cid, fault_id, length=6)}"
    new = json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()
    return new, raw["message_id"], raw["correlation_id"]


def _drift(body: bytes, params: dict[str, Any]) -> tuple[bytes, int] | None:
    try:
        raw = json.loads(body)
        current = int(raw["schema_version"])
    except Exception:
        return None
    if "version" in params:
        version = int(params["version"])
    else:
        version = current + int(params.get("step", 1))
    if version < 1:
        version = current + 1
    raw["schema_version"] = version
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode(), version


class ChaosHooks:
    """Process faults through the runtime's hooks.

    Crash faults fire at most once per (fault, message, agent) so a redelivery goes through;
    ``pause`` holds every new delivery of the agent until resumed; ``slow_dependency`` and
    ``dependency_down`` act on in-process dependencies that ask :func:`dependency_delay` (real
    HTTP dependencies get the same faults from Toxiproxy, see network.py).
    """

    def __init__(
        self,
        recorder: Recorder,
        plan: list[PlannedFault],
        seed: int,
        *,
        clock: Callable[[], float] | None = None,
        run_tag: str = "",
    ) -> None:
        self.recorder = recorder
        self.seed = seed
        self.run_tag = run_tag  # left out of decisions, as in FaultyTransport
        self.crashes = [f for f in plan if f.fault in _CRASH_POINTS]
        self._t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - self._t0)
        self._done: set[tuple[str, str, str]] = set()
        self.hops = Hops()
        self.fired: dict[str, int] = {}
        self._paused: dict[str, asyncio.Event] = {}
        self._deps: dict[str, tuple[PlannedFault, str | None, str]] = {}
        self.enabled = True

    def start_clock(self) -> None:
        self._t0 = time.monotonic()

    async def at(self, point: str, runtime: AgentRuntime, envelope: Envelope | None) -> None:
        agent = runtime.agent.name
        gate = self._paused.get(agent)
        if point == "delivered" and gate is not None and not gate.is_set():
            await gate.wait()
        if envelope is None:
            return
        ids = envelope.identities()
        hop = self.hops.see(ids)
        if not self.enabled:
            return
        t = self.clock()
        for fault in self.crashes:
            if _CRASH_POINTS[fault.fault] != point or fault.target not in ("*", agent):
                continue
            if not fault.matches(envelope.message_id, envelope.correlation_id, hop):
                continue
            if not fault.active(t):
                continue
            if fault.max is not None and self.fired.get(fault.id, 0) >= fault.max:
                continue
            key = message_key(ids, envelope.message_id, run_tag=self.run_tag, hop=hop)
            if not decide(self.seed, fault.probability, fault.id, key, agent):
                continue
            if not self.claim(fault, envelope.message_id, agent):
                continue
            self.fired[fault.id] = self.fired.get(fault.id, 0) + 1
            which = {"message_id": envelope.message_id, "correlation_id": envelope.correlation_id}
            self.recorder.record(
                "fault_start",
                fault=fault.fault,
                fault_id=fault.id,
                target=agent,
                agent=agent,
                point=point,
                **which,
            )
            self.recorder.record(
                "fault_end",
                fault=fault.fault,
                fault_id=fault.id,
                target=agent,
                agent=agent,
                **which,
            )
            self.crash(f"{fault.fault} ({fault.id})")

    def claim(self, fault: PlannedFault, message_id: str, agent: str) -> bool:
        """Whether this crash may fire for (fault, message, agent): once each, so the
        redelivery goes through (processes keep the claim in a file that survives them)."""
        key = (fault.id, message_id, agent)
        if key in self._done:
            return False
        self._done.add(key)
        return True

    def crash(self, reason: str) -> None:
        """Crash the agent: raise AgentCrash (the in-process runtime stops consuming)."""
        raise AgentCrash(reason)

    # -- windows (driven by the runner's nemesis) ---------------------------------------------
    def pause(self, agent: str) -> None:
        self._paused[agent] = asyncio.Event()

    def resume(self, agent: str) -> None:
        gate = self._paused.pop(agent, None)
        if gate is not None:
            gate.set()

    def break_dependency(self, fault: PlannedFault) -> None:
        agent, _, dep = fault.target.rpartition(".")
        self._deps[dep] = (fault, agent or None, fault.fault)

    def heal_dependency(self, fault: PlannedFault) -> None:
        _, _, dep = fault.target.rpartition(".")
        self._deps.pop(dep, None)

    def heal(self) -> None:
        self.enabled = False
        for agent in list(self._paused):
            self.resume(agent)
        self._deps.clear()

    def dependency_delay(self, dependency: str, agent: str | None = None) -> float | None:
        """Seconds a broken dependency adds right now (for dependencies called without
        ``ctx.call``: an in-process service can ask the hooks directly); None when healthy."""
        broken = self._deps.get(dependency)
        if broken is None or (broken[1] and agent and broken[1] != agent):
            return None
        fault, _, kind = broken
        if kind == "dependency_down":
            return float("inf")
        return float(fault.params.get("latency_ms", 1000)) / 1000


async def dependency_delay(ctx: Any, dependency: str) -> None:
    """For in-process *simulated services*: wait as long as a dependency fault says, or raise
    ConnectionRefusedError when it is down. A no-op outside chaos runs, and inside a
    ``ctx.call`` of that dependency (which applies the fault itself). Agent code never needs
    it: ``ctx.call`` applies dependency faults.

    Example (a simulated ETA service)::

        async def eta_service(ctx, ride):
            await dependency_delay(ctx, "eta_service")
            return compute_eta(ride)
    """
    if dependency in getattr(ctx, "faulted_dependencies", ()):
        return  # ctx.call already applied this dependency's fault to the call
    hooks = getattr(ctx.runtime, "hooks", None)
    ask = getattr(hooks, "dependency_delay", None)
    if ask is None:
        return
    delay = ask(dependency, ctx.runtime.agent.name)
    if delay is None:
        return
    if delay == float("inf"):
        raise ConnectionRefusedError(f"{dependency} is down (chaos fault)")
    await asyncio.sleep(delay)
