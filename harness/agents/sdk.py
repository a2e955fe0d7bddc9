"""The agent SDK: declare an agent, write its handler against a :class:`Context`.

Example::

    fraud = Agent("fraud", "1.0.0",
                  consumes=["payment.requested@1"], emits=["payment.risk_assessed@1"])

    @fraud.handler
    async def assess(ctx: Context, msg: Envelope) -> None:
        level = "high" if msg.payload["amount_cents"] > 500_000 else "low"
        ctx.emit("payment.risk_assessed", {"payment_id": msg.payload["payment_id"],
                                           "risk_level": level})

The runtime (:mod:`harness.agents.runtime`) validates ingress before the handler runs, so a
handler only ever sees envelopes whose payload matches a (type, version) it consumes. Inside the
handler:

- ``ctx.emit(type, payload)`` buffers an envelope; the runtime validates and publishes it only
  after the handler returns, then acks. Identities are derived from the input, so a retry
  emits the same message ids.
- ``await ctx.effect(name, data, rows=...)`` applies an effect through the idempotency store
  exactly once per (input, agent, name); returns False when it was already applied.
- ``await ctx.call(dependency, fn)`` calls a dependency under its declared timeout and, on
  timeout or error, returns its declared fallback instead (recorded as ``fallback``).
- ``await ctx.outcome("completed" | "declined")`` records the correlation's terminal outcome
  (once, through the store).
- ``ctx.cache`` is the agent's own state across messages (e.g. last known values for fallbacks).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.envelope import Envelope, Producer
from harness.errors import InputError

if TYPE_CHECKING:
    from harness.agents.context import Context

__all__ = ["Agent", "MessageRef", "parse_ref"]

HandlerFn = Callable[["Context", Envelope], Awaitable[None]]
_REF = re.compile(r"^([A-Za-z0-9_.\-]+)@(?:v)?(\d+)$")


@dataclass(frozen=True)
class MessageRef:
    """A (message type, schema version) pair, written ``type@version``."""

    type: str
    version: int

    def __str__(self) -> str:
        return f"{self.type}@{self.version}"


def parse_ref(text: str | MessageRef, *, where: str = "agent") -> MessageRef:
    """Parse ``"payment.requested@1"`` (or ``@v1``)."""
    if isinstance(text, MessageRef):
        return text
    match = _REF.match(str(text).strip())
    if not match:
        raise InputError(f"{text!r} is not TYPE@VERSION (e.g. payment.requested@1)", where=where)
    return MessageRef(match.group(1), int(match.group(2)))


@dataclass
class Agent:
    """A named, versioned unit that consumes message types and emits others or effects.

    Args:
        name: the agent's name (also its default input queue).
        version: the agent's version string.
        consumes: ``type@version`` refs it accepts at ingress.
        emits: ``type@version`` refs it may emit (the version used by ``ctx.emit``).
        timeout: seconds a handler may take before it counts as failed (or falls back).
        fallback: handler used when the main one times out or its dependency fails.
        validate_ingress: when false, the runtime hands the handler whatever parses as an
            envelope, unchecked (a deliberately unsafe opt-out: the fuzzer must catch it).
    """

    name: str
    version: str
    consumes: list[MessageRef] = field(default_factory=list)
    emits: list[MessageRef] = field(default_factory=list)
    timeout: float = 5.0
    fn: HandlerFn | None = None
    fallback_fn: HandlerFn | None = None
    #: validate each input against the registry before the handler runs (keep it True:
    #: False is for deliberately broken bug-zoo agents that forward unvalidated input)
    validate_ingress: bool = True

    if TYPE_CHECKING:  # the constructor also takes "type@version" strings
        def __init__(self, name: str, version: str,
                     consumes: Sequence[MessageRef | str] = ...,
                     emits: Sequence[MessageRef | str] = ..., timeout: float = ...,
                     fn: HandlerFn | None = ..., fallback_fn: HandlerFn | None = ...,
                     validate_ingress: bool = ...) -> None: ...

    def __post_init__(self) -> None:
        self.consumes = [parse_ref(r, where=f"agent {self.name}: consumes") for r in self.consumes]
        self.emits = [parse_ref(r, where=f"agent {self.name}: emits") for r in self.emits]

    @property
    def producer(self) -> Producer:
        return Producer(self.name, self.version)

    def handler(self, fn: HandlerFn) -> HandlerFn:
        """Decorator: set the handler."""
        self.fn = fn
        return fn

    def fallback(self, fn: HandlerFn) -> HandlerFn:
        """Decorator: set the fallback handler (used on timeout when the pipeline allows)."""
        self.fallback_fn = fn
        return fn

    def consumed_versions(self, message_type: str) -> list[int]:
        return [r.version for r in self.consumes if r.type == message_type]

    def emit_version(self, message_type: str) -> int:
        for ref in self.emits:
            if ref.type == message_type:
                return ref.version
        raise InputError(f"agent {self.name} does not declare that it emits {message_type!r} "
                         f"(emits: {', '.join(map(str, self.emits)) or 'nothing'})",
                         where=f"agent {self.name}")

    def variant(self, **changes: Any) -> Agent:
        """A copy with some fields changed (handy for bug-zoo variants)."""
        data = {k: getattr(self, k) for k in
                ("name", "version", "consumes", "emits", "timeout", "fn", "fallback_fn",
                 "validate_ingress")}
        data.update(changes)
        return Agent(**data)
