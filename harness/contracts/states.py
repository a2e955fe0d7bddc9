"""Provider states: how a producer agent is put in the state a consumer's pact names.

A provider state names a situation (``"a high-risk payment was accepted"``). For a producer
agent, its handler builds the *input* envelope that leads the agent's real handler to emit the
message the pact describes; the verifier runs that input through the agent's runtime. Example
(``examples/payments/provider_states.py``)::

    states = ProviderStates()

    @states.state("fraud", "a high-risk payment was accepted")
    def high_risk(params: dict) -> Envelope:
        return accepted(amount_cents=params.get("amount_cents", 900_000))

A state without a handler fails verification (Pact itself would pass it silently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.envelope import Envelope

__all__ = ["ProviderStates", "StateFn"]

StateFn = Callable[[dict[str, Any]], Envelope]


@dataclass
class ProviderStates:
    """Provider-state handlers per producer agent: ``agent -> state name -> fn(params)``."""

    handlers: dict[str, dict[str, StateFn]] = field(default_factory=dict)

    def state(self, agent: str, name: str) -> Callable[[StateFn], StateFn]:
        """Decorator: register ``fn(params) -> Envelope`` (the agent's input) for a state."""

        def register(fn: StateFn) -> StateFn:
            self.handlers.setdefault(agent, {})[name] = fn
            return fn

        return register

    def for_agent(self, agent: str) -> dict[str, StateFn]:
        """The state handlers of one producer agent (empty when it has none)."""
        return dict(self.handlers.get(agent, {}))
