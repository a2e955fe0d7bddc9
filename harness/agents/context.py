"""The handler's view of the world: emit, forward, effects, dependency calls, outcomes.

``ctx.outcome``, ``ctx.effect`` and ``ctx.call`` are coroutines: a handler that forgets to
``await`` one fails its delivery (dead letter ``not_awaited`` naming the call) instead of
silently doing nothing. ``ctx.emitted`` is read-only; ``ctx.emit`` builds and ``ctx.forward``
publishes a prebuilt envelope. Emitting a type the agent does not declare dead-letters the input
as ``emitted_invalid``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from harness.agents.stores import LedgerRow
from harness.envelope import Envelope, derive_id
from harness.errors import InputError, ValidationFailed

if TYPE_CHECKING:
    from harness.agents.runtime import AgentRuntime

__all__ = ["DEPENDENCY_ERRORS", "OUTCOMES", "Context", "Dependency", "dependency_errors"]

OUTCOMES = ("completed", "declined")
T = TypeVar("T")


#: failures every dependency call falls back on (plus what the dependency declares, and
#: ``httpx.HTTPError`` when httpx is in use: see :func:`dependency_errors`)
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, OSError, ConnectionError)


def dependency_errors(declared: tuple[type[BaseException], ...] = ()) -> \
        tuple[type[BaseException], ...]:
    """The exceptions a ``ctx.call`` falls back on: timeouts, OS and connection errors,
    ``httpx.HTTPError`` (transport errors, ``raise_for_status``) if httpx is loaded (a call
    can only raise it then, so importing it is never needed), and ``declared``."""
    httpx = sys.modules.get("httpx")
    extra = (httpx.HTTPError,) if httpx is not None else ()
    return (*DEPENDENCY_ERRORS, *extra, *declared)


@dataclass
class Dependency:
    """A declared dependency of an agent: a timeout, and optionally a fallback value maker.

    Attributes:
        name: the dependency's name (``eta_service``).
        timeout: seconds before a call counts as failed.
        fallback: called with the Context when a call fails; its return value is used instead.
        errors: exception types (besides :data:`DEPENDENCY_ERRORS`) that count as a failed
            call (pipeline file: ``errors: [mymodule:QuotaExceeded]``).
    """

    name: str
    timeout: float = 1.0
    fallback: Callable[[Context], Any] | None = None
    errors: tuple[type[BaseException], ...] = ()


class Context:
    """What a handler may do with one input message. Created by the runtime per delivery."""

    def __init__(self, runtime: AgentRuntime, message: Envelope, *, attempt: int = 1) -> None:
        self.runtime = runtime
        self.message = message
        self.attempt = attempt
        self._emitted: list[Envelope] = []
        self.effects_applied: list[str] = []
        self.used_fallback = False
        self._calls: list[tuple[str, Coroutine[Any, Any, Any]]] = []
        #: dependencies whose chaos fault ctx.call is applying right now
        self.faulted_dependencies: set[str] = set()

    @property
    def agent(self) -> str:
        return self.runtime.agent.name

    @property
    def emitted(self) -> tuple[Envelope, ...]:
        """The envelopes this delivery will publish (read-only: use emit or forward)."""
        return tuple(self._emitted)

    @property
    def cache(self) -> dict[str, Any]:
        """State the agent keeps across messages (in its own process)."""
        return self.runtime.cache

    @property
    def params(self) -> dict[str, Any]:
        """The agent's parameters from the pipeline file."""
        return self.runtime.params

    def _declared(self, message_type: str) -> int:
        try:
            return self.runtime.agent.emit_version(message_type)
        except InputError as exc:
            raise ValidationFailed("emitted_invalid", str(exc)) from None

    def emit(self, message_type: str, payload: Any, *, version: int | None = None) -> Envelope:
        """Buffer an envelope caused by the input; published after the handler returns."""
        agent = self.runtime.agent
        declared = self._declared(message_type)
        env = self.message.child(
            type=message_type,
            schema_version=version if version is not None else declared,
            payload=payload,
            producer=agent.producer,
            index=len(self._emitted),
        )
        self._emitted.append(env)
        return env

    def forward(self, envelope: Envelope) -> Envelope:
        """Publish a prebuilt envelope (after the handler returns, validated like ``emit``'s).

        For envelopes built by hand (``ctx.message.child(...)``, ``dataclasses.replace``);
        its type must be one the agent declares it emits."""
        if not isinstance(envelope, Envelope):
            raise TypeError(f"ctx.forward takes an Envelope, not {type(envelope).__name__}")
        self._declared(envelope.type)
        self._emitted.append(envelope)
        return envelope

    def _clear_emitted(self) -> None:
        self._emitted.clear()

    def _track(self, label: str, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        self._calls.append((label, coro))
        return coro

    def unawaited(self) -> list[str]:
        """The Context calls the handler created but never awaited (each closed now)."""
        missed = []
        for label, coro in self._calls:
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
                missed.append(label)
        self._calls.clear()
        return missed

    def effect_key(self, name: str) -> str:
        """The idempotency key of effect ``name`` for this input (stable across retries)."""
        return derive_id("effect", self.message.idempotency_key, self.agent, name)

    def effect(self, name: str, data: Any = None, *, rows: tuple[LedgerRow, ...] = (),
               key: str | None = None) -> Coroutine[Any, Any, bool]:
        """Apply an effect exactly once per input; True when applied now, False if a duplicate.
        Await it."""
        return self._track(f"ctx.effect({name!r})", self._effect(name, data, rows, key))

    async def _effect(self, name: str, data: Any, rows: tuple[LedgerRow, ...],
                      key: str | None) -> bool:
        key = key or self.effect_key(name)
        applied = await self.runtime.apply_effect(self, name, key, data, rows)
        if applied:
            self.effects_applied.append(key)
        return applied

    def outcome(self, outcome: str, detail: str = "") -> Coroutine[Any, Any, bool]:
        """Record the correlation's terminal outcome (once); True when recorded now. Await it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        return self._track(f"ctx.outcome({outcome!r})", self._outcome(outcome, detail))

    async def _outcome(self, outcome: str, detail: str) -> bool:
        key = derive_id("outcome", self.message.correlation_id)
        return await self.runtime.apply_effect(
            self, f"outcome:{outcome}", key, {"outcome": outcome, "detail": detail}, (),
            outcome=outcome)

    def call(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> Coroutine[Any, Any, T]:
        """Call a dependency under its declared timeout; on failure use its fallback. Await it.

        A failure is a timeout, an error in :data:`DEPENDENCY_ERRORS` (OSError, connection
        and httpx errors) or one the dependency declares (``errors``). Chaos faults on the
        dependency (``slow_dependency``, ``dependency_down``) are applied here.

        Raises:
            TimeoutError or the dependency's error, when it has no fallback.
        """
        return self._track(f"ctx.call({dependency!r})", self._call(dependency, fn))

    async def _call(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> T:
        dep = self.runtime.dependencies.get(dependency) or Dependency(dependency,
                                                                      self.runtime.agent.timeout)
        try:
            return await asyncio.wait_for(self._faulted(dependency, fn), timeout=dep.timeout)
        except dependency_errors(dep.errors) as exc:
            if dep.fallback is None:
                raise
            self.used_fallback = True
            self.runtime.record("fallback", dependency=dependency,
                                reason=type(exc).__name__, **self.message.identities())
            return dep.fallback(self)  # type: ignore[no-any-return]

    async def _faulted(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` after the delay a chaos fault on the dependency adds (or its refusal)."""
        ask = getattr(self.runtime.hooks, "dependency_delay", None)
        delay = ask(dependency, self.agent) if ask is not None else None
        if delay == float("inf"):
            raise ConnectionRefusedError(f"{dependency} is down (chaos fault)")
        if delay:
            await asyncio.sleep(delay)
        self.faulted_dependencies.add(dependency)
        try:
            return await fn()
        finally:
            self.faulted_dependencies.discard(dependency)
