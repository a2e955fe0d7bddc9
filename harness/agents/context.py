"""The handler's view of the world: emit, effects, dependency calls, outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.agents.stores import LedgerRow
from harness.envelope import Envelope, derive_id

if TYPE_CHECKING:
    from harness.agents.runtime import AgentRuntime

__all__ = ["OUTCOMES", "Context", "Dependency"]

OUTCOMES = ("completed", "declined")


@dataclass
class Dependency:
    """A declared dependency of an agent: a timeout, and optionally a fallback value maker.

    Attributes:
        name: the dependency's name (``eta_service``).
        timeout: seconds before a call counts as failed.
        fallback: called with the Context when a call fails; its return value is used instead.
    """

    name: str
    timeout: float = 1.0
    fallback: Callable[[Context], Any] | None = None


class Context:
    """What a handler may do with one input message. Created by the runtime per delivery."""

    def __init__(self, runtime: AgentRuntime, message: Envelope, *, attempt: int = 1) -> None:
        self.runtime = runtime
        self.message = message
        self.attempt = attempt
        self.emitted: list[Envelope] = []
        self.effects_applied: list[str] = []
        self.used_fallback = False

    @property
    def agent(self) -> str:
        return self.runtime.agent.name

    @property
    def cache(self) -> dict[str, Any]:
        """State the agent keeps across messages (in its own process)."""
        return self.runtime.cache

    @property
    def params(self) -> dict[str, Any]:
        """The agent's parameters from the pipeline file."""
        return self.runtime.params

    def emit(self, message_type: str, payload: Any, *, version: int | None = None) -> Envelope:
        """Buffer an envelope caused by the input; published after the handler returns."""
        agent = self.runtime.agent
        env = self.message.child(
            type=message_type,
            schema_version=version if version is not None else agent.emit_version(message_type),
            payload=payload,
            producer=agent.producer,
            index=len(self.emitted),
        )
        self.emitted.append(env)
        return env

    def effect_key(self, name: str) -> str:
        """The idempotency key of effect ``name`` for this input (stable across retries)."""
        return derive_id("effect", self.message.idempotency_key, self.agent, name)

    async def effect(self, name: str, data: Any = None, *, rows: tuple[LedgerRow, ...] = (),
                     key: str | None = None) -> bool:
        """Apply an effect exactly once per input; True when applied now, False if a duplicate."""
        key = key or self.effect_key(name)
        applied = await self.runtime.apply_effect(self, name, key, data, rows)
        if applied:
            self.effects_applied.append(key)
        return applied

    async def outcome(self, outcome: str, detail: str = "") -> bool:
        """Record the correlation's terminal outcome (once); True when recorded now."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        key = derive_id("outcome", self.message.correlation_id)
        return await self.runtime.apply_effect(
            self, f"outcome:{outcome}", key, {"outcome": outcome, "detail": detail}, (),
            outcome=outcome)

    async def call(self, dependency: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Call a dependency under its declared timeout; on failure use its fallback.

        Raises:
            asyncio.TimeoutError or the dependency's error, when it has no fallback.
        """
        dep = self.runtime.dependencies.get(dependency) or Dependency(dependency,
                                                                      self.runtime.agent.timeout)
        try:
            return await asyncio.wait_for(fn(), timeout=dep.timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            if dep.fallback is None:
                raise
            self.used_fallback = True
            self.runtime.record("fallback", dependency=dependency,
                                reason=type(exc).__name__, **self.message.identities())
            return dep.fallback(self)
