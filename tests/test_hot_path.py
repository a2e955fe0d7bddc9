"""Hot-path shortcuts keep behaviour identical: wire bytes and validation verdicts."""

from __future__ import annotations

import json

import pytest

from harness.agents.runtime import _VALID, _validate_memo
from harness.contracts.registry import SchemaRegistry
from harness.demo import default_pipeline_path
from harness.envelope import Envelope, Producer
from harness.errors import ValidationFailed
from harness.pipeline import load_pipeline
from harness.workload import payments_workload


def test_to_bytes_is_the_json_of_to_dict():
    for item in payments_workload(60, 5):
        if item.envelope is None:
            continue
        env = item.envelope
        child = env.child(type="payment.accepted", schema_version=1,
                          payload={"a": [1, {"b": "é", "c": None}]}, producer=Producer("o", "1"))
        for e in (env, child):
            expected = json.dumps(e.to_dict(), separators=(",", ":"), ensure_ascii=False,
                                  allow_nan=False).encode()
            assert e.to_bytes() == expected
            assert Envelope.from_bytes(e.to_bytes()) == e


def test_validation_memo_remembers_only_valid_verdicts():
    registry = SchemaRegistry(load_pipeline(default_pipeline_path()).registry_path)
    item = next(i for i in payments_workload(30, 1) if i.envelope is not None)
    payload = dict(item.envelope.payload)
    _validate_memo(registry, "payment.requested", 1, payload, lookup=False)  # egress
    _validate_memo(registry, "payment.requested", 1, dict(payload), lookup=True)  # memo hit
    assert len(_VALID[registry]) == 1
    bad = {**payload, "amount_cents": "12"}
    for _ in range(2):  # an invalid payload fails every time, with its detail
        with pytest.raises(ValidationFailed, match="amount_cents"):
            _validate_memo(registry, "payment.requested", 1, bad, lookup=True)
    # same JSON text, other schema version: validated on its own
    with pytest.raises(ValidationFailed):
        _validate_memo(registry, "payment.requested", 7, payload, lookup=True)
    # egress never trusts the memo: a tuple is not a JSON array for jsonschema
    with_tuple = {**payload, "reasons": ("a",)}
    _validate_memo(registry, "payment.risk_assessed", 1,
                   {**payload, "risk_level": "low", "reasons": ["a"], "memo_summary": "m"},
                   lookup=False)
    with pytest.raises(ValidationFailed):
        _validate_memo(registry, "payment.risk_assessed", 1,
                       {**with_tuple, "risk_level": "low", "memo_summary": "m"}, lookup=False)
