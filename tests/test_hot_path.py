"""Hot-path shortcuts keep behaviour identical: wire bytes and validation verdicts."""

from __future__ import annotations

import json

import pytest

from harness.contracts.compiled import fast_valid, plain_json
from harness.contracts.registry import SchemaRegistry
from harness.demo import default_pipeline_path
from harness.envelope import Envelope, Producer, peek_identities
from harness.errors import EnvelopeError, ValidationFailed
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


def test_compiled_fast_path_gives_the_python_validators_verdicts():
    registry = SchemaRegistry(load_pipeline(default_pipeline_path()).registry_path)
    item = next(i for i in payments_workload(30, 1) if i.envelope is not None)
    payload = dict(item.envelope.payload)
    assert fast_valid(registry, "payment.requested", 1, payload)  # the fast path is taken
    registry.validate("payment.requested", 1, payload)
    bad = {**payload, "amount_cents": "12"}
    assert not fast_valid(registry, "payment.requested", 1, bad)
    with pytest.raises(ValidationFailed, match="amount_cents"):  # detail from jsonschema
        registry.validate("payment.requested", 1, bad)
    with pytest.raises(ValidationFailed):  # another version: its own schema (unknown here)
        registry.validate("payment.requested", 7, payload)
    # a tuple is not a JSON array for jsonschema (jsonschema-rs would accept it)
    assessed = {**payload, "risk_level": "low", "reasons": ["a"], "memo_summary": "m"}
    registry.validate("payment.risk_assessed", 1, assessed)
    with_tuple = {**assessed, "reasons": ("a",)}
    assert not plain_json(with_tuple)
    with pytest.raises(ValidationFailed):
        registry.validate("payment.risk_assessed", 1, with_tuple)
    for odd in ({1: "int key"}, {"d": {1, 2}}, {"x": [object()]}):
        assert not plain_json(odd)
    assert plain_json({"a": [1, 2.5, None, True, {"b": "c"}]})


def test_a_payload_nested_deeper_than_orjson_writes_takes_the_strict_parser():
    """orjson reads 300 levels but refuses to write them back (TypeError): the fast path must
    hand such bytes to the strict parser, not crash (found by fuzzing a black box)."""
    env = Envelope.ingress(type="payment.requested", schema_version=1, payload={},
                           correlation_id="deep-1")
    deep = "[" * 300 + "]" * 300
    body = env.to_bytes().replace(b'"payload":{}', b'"payload":' + deep.encode())
    assert Envelope.from_bytes(body).payload == json.loads(deep)


def test_an_envelope_nested_100000_deep_is_refused_not_a_crash():
    """orjson 3.8 crashes the process on ~100,000 nested objects: such bytes must reach the
    standard library (a clean not_json), on the runtime's and the router's paths alike."""
    env = Envelope.ingress(type="payment.requested", schema_version=1, payload={},
                           correlation_id="deep-2")
    for deep in ('{"a":' * 100_000 + "1" + "}" * 100_000, "[" * 100_000 + "]" * 100_000):
        body = env.to_bytes().replace(b'"payload":{}', b'"payload":' + deep.encode())
        with pytest.raises(EnvelopeError) as caught:
            Envelope.from_bytes(body)
        assert caught.value.reason == "not_json"
        assert peek_identities(body) == {}
