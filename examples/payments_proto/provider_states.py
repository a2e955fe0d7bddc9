"""Provider states for the Protobuf variant: the JSON pipeline's states, with authorization's
input (payment.risk_assessed) encoded as Protobuf bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Envelope
from harness.contracts.binary import encode_payload
from harness.contracts.states import ProviderStates
from harness.pipeline import load_object

HERE = Path(__file__).resolve().parent
_json_states: ProviderStates = load_object("../payments/provider_states.py:states", base=HERE,
                                           where=str(HERE))
states = ProviderStates()


def _binary(fn: Any) -> Any:
    def build(params: dict[str, Any]) -> Envelope:
        from proto_agents import MESSAGE, REGISTRY  # beside this file

        env = fn(params)
        return env.with_payload(encode_payload(REGISTRY, env.type, env.schema_version,
                                               env.payload, message=MESSAGE))
    return build


for agent, handlers in _json_states.handlers.items():
    for name, fn in handlers.items():
        states.state(agent, name)(_binary(fn) if agent == "authorization" else fn)
