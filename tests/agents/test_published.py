"""Emissions validated in this process are not validated again by their consumer here, and
nothing else is let through: other bytes, a second delivery, a payload that does not read back
the same."""

from __future__ import annotations

from pathlib import Path

from harness import Envelope
from harness.agents.probe import AgentProbe
from harness.agents.published import Published, published
from harness.contracts.registry import SchemaRegistry
from harness.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"
PAYMENT = {"payment_id": "pay-1", "amount_cents": 1200, "currency": "EUR",
           "customer_id": "c-1", "merchant_id": "m-1", "card_last4": "4242"}


def test_an_entry_is_taken_once_and_only_plain_payloads_are_kept():
    memo = Published(limit=2)
    memo.add(b"a", "t", 1, {"x": [1, "y", None, True]})
    memo.add(b"t", "t", 1, {"x": (1, 2)})  # a tuple reads back as a list
    assert memo.take(b"t") is None
    assert memo.take(bytearray(b"a")) is None  # not bytes: not looked up
    assert memo.take(b"a") == ("t", 1)
    assert memo.take(b"a") is None  # once
    for body in (b"1", b"2", b"3"):
        memo.add(body, "t", 1, {})
    assert len(memo) == 2 and memo.take(b"1") is None and memo.take(b"3") == ("t", 1)


def test_encode_says_when_orjson_wrote_the_bytes_and_a_canonical_parse_is_the_same():
    env = Envelope.ingress(type="payment.accepted", schema_version=1, payload=dict(PAYMENT),
                           correlation_id="pay-1")
    body, canonical = env.encode()
    assert canonical and body == env.to_bytes()
    assert Envelope.from_bytes(body, canonical=True) == Envelope.from_bytes(body) == env
    floats = env.with_payload({**PAYMENT, "rate": 0.5})
    assert floats.encode() == (floats.to_bytes(), False)  # json wrote them


async def test_the_consumer_of_a_validated_emission_skips_only_that_validation():
    registry = SchemaRegistry(ROOT / "contracts")
    spec = load_pipeline(PIPELINE)
    seen: list[tuple[str, object]] = []
    validate = registry.validate

    def counting(message_type, version, payload):  # type: ignore[no-untyped-def]
        seen.append((message_type, payload))
        validate(message_type, version, payload)

    registry.validate = counting  # type: ignore[method-assign]
    async with AgentProbe(spec.agents["fraud"].agent, registry) as fraud, \
            AgentProbe(spec.agents["authorization"].agent, registry) as auth:
        src = Envelope.ingress(type="payment.accepted", schema_version=1,
                               payload=dict(PAYMENT), correlation_id="pay-1")
        sent = await fraud.send(src)
        assert sent.outcome == "acked"
        out = sent.emitted[0].to_bytes()  # the bytes published (the same encoding)
        assert published(registry) is not None and len(published(registry)) == 1  # type: ignore[arg-type]
        assert [t for t, _ in seen] == ["payment.accepted", "payment.risk_assessed"]

        seen.clear()
        first = await auth.send(out, headers={"x-correlation-id": "pay-1"})
        assert first.outcome == "acked"
        assert [t for t, _ in seen] == ["payment.authorized"]  # egress only

        seen.clear()
        again = await auth.send(out, headers={"x-correlation-id": "pay-1"})
        assert again.outcome == "acked"  # taken once: the second delivery is validated
        assert [t for t, _ in seen] == ["payment.risk_assessed", "payment.authorized"]

        # a fault rewrote the bytes in flight: other bytes, full validation, dead letter
        sent = await fraud.send(src)
        out = sent.emitted[0].to_bytes()
        bad = out.replace(b'"risk_level":"low"', b'"risk_level":"none"')
        assert bad != out
        seen.clear()
        result = await auth.send(bad, headers={"x-correlation-id": "pay-1"})
        assert result.outcome == "dead_lettered"
        assert result.dead_letters[0].reason == "schema_invalid"
        assert [t for t, _ in seen] == ["payment.risk_assessed"]
