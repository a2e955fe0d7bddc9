"""Envelope identities, serialisation and precise parse errors."""

from __future__ import annotations

import json

import pytest

from harness.envelope import Envelope, Producer, idempotency_key
from harness.errors import EnvelopeError


def make(**kw) -> Envelope:
    base = dict(type="payment.requested", schema_version=1, payload={"a": 1},
                correlation_id="pay-1")
    base.update(kw)
    return Envelope.ingress(**base)


def test_round_trip_bytes():
    env = make()
    assert Envelope.from_bytes(env.to_bytes()) == env


def test_identities_are_derived_not_drawn():
    a, b = make(), make()
    assert a.message_id == b.message_id and a.idempotency_key == b.idempotency_key
    p = Producer("fraud", "1.0.0")
    ca = a.child(type="x", schema_version=1, payload={}, producer=p)
    cb = b.child(type="x", schema_version=1, payload={"other": True}, producer=p)
    # a retry of the same step emits the same identities, whatever the payload
    assert ca.message_id == cb.message_id and ca.idempotency_key == cb.idempotency_key
    assert ca.causation_id == a.message_id and ca.correlation_id == a.correlation_id
    assert ca.trace.trace_id == a.trace.trace_id and ca.trace.span_id != a.trace.span_id
    other_step = a.child(type="y", schema_version=1, payload={}, producer=p)
    assert other_step.idempotency_key != ca.idempotency_key


def test_idempotency_key_is_a_stable_hash_of_identity_and_step():
    assert idempotency_key("m1", "ledger") == idempotency_key("m1", "ledger")
    assert idempotency_key("m1", "ledger") != idempotency_key("m2", "ledger")
    assert idempotency_key("m1", "ledger") != idempotency_key("m1", "notify")


@pytest.mark.parametrize(
    ("mutate", "reason", "where"),
    [
        (lambda d: b"\xff\xfe" + d, "not_utf8", "envelope"),
        (lambda d: d[:-5], "not_json", "envelope"),
        (lambda d: b"[1,2]", "not_envelope", "envelope"),
        (lambda d: d.replace(b'"message_id"', b'"message_idx"'), "missing_field",
         "envelope.message_id"),
        (lambda d: d.replace(b'"schema_version":1', b'"schema_version":"1"'), "bad_field",
         "envelope.schema_version"),
        (lambda d: d.replace(b'"schema_version":1', b'"schema_version":1,"schema_version":2'),
         "duplicate_key", "envelope"),
        (lambda d: d.replace(b'"traceparent":"00-', b'"traceparent":"zz-'), "bad_field",
         "envelope.trace.traceparent"),
        (lambda d: d.replace(b'{"a":1}', b'{"a":NaN}'), "not_json", "envelope"),
        (lambda d: d.replace(b'"correlation_id":"pay-1"', b'"correlation_id":"pay\\u00001"'),
         "bad_field", "envelope.correlation_id"),
    ],
)
def test_parse_errors_are_precise(mutate, reason, where):
    data = make().to_bytes()
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_bytes(mutate(data))
    assert info.value.reason == reason
    assert str(info.value).startswith(where)


def test_huge_envelope_is_rejected_before_parsing():
    env = make(payload={"memo": "x" * 1_100_000})
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_bytes(env.to_bytes())
    assert info.value.reason == "too_large"


def test_wire_form_carries_every_field():
    raw = json.loads(make().to_bytes())
    assert set(raw) == {"envelope", "message_id", "correlation_id", "causation_id", "type",
                        "schema_version", "idempotency_key", "producer", "produced_at", "trace",
                        "payload"}
    assert raw["trace"]["traceparent"].startswith("00-")


@pytest.mark.parametrize("open_, close", [(b'{"a":', b"}"), (b"[", b"]")])
def test_a_payload_nested_100000_deep_is_refused_not_a_crash(open_, close):
    env = Envelope.ingress(type="t", schema_version=1, payload={"x": 1}, correlation_id="c")
    body = env.to_bytes().replace(b'{"x":1}', open_ * 100_000 + b"1" + close * 100_000)
    with pytest.raises(EnvelopeError):  # orjson 3.8 dies with SIGSEGV on the object form
        Envelope.from_bytes(body)
