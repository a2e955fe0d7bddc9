"""Binary (Protobuf, Avro) payloads in envelopes: validation, the Protobuf payments variant
(demo, chaos, contracts), and fuzzing from .proto/.avsc."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.contracts.binary import decode_payload, encode_payload
from harness.contracts.registry import SchemaRegistry
from harness.errors import ValidationFailed
from harness.fuzz.binary import fuzz_schema

ROOT = Path(__file__).resolve().parents[2]
PROTO_PIPELINE = ROOT / "examples" / "payments_proto" / "pipeline.yaml"
PROTO_REGISTRY = ROOT / "examples" / "payments_proto" / "contracts"
EXAMPLE = ROOT / "examples" / "protobuf" / "contracts"
VALUE = {"payment_id": "pay-1", "amount_cents": 1250, "currency": "EUR", "customer_id": "c",
         "merchant_id": "m", "risk_level": "low", "reasons": [], "memo_summary": "no memo"}


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(PROTO_REGISTRY)


def _with_data(payload: dict, data: bytes) -> dict:
    return {**payload, "data": base64.b64encode(data).decode()}


def test_protobuf_payload_round_trip(registry: SchemaRegistry) -> None:
    payload = encode_payload(registry, "payment.risk_assessed", 1, VALUE)
    assert payload["content_type"] == "application/protobuf"
    assert payload["schema"] == "payment.risk_assessed@1"
    registry.validate("payment.risk_assessed", 1, payload)
    assert decode_payload(registry, "payment.risk_assessed", 1, payload) == VALUE
    assert registry.validator("payment.risk_assessed", 1).is_valid(payload)


CHANGES = [
    ("truncated", lambda p, d: _with_data(p, d[:-1]), "not a valid"),
    ("enum", lambda p, d: _with_data(p, d + b"\x30\x07"), "risk_level: enum number 7"),
    ("wire type", lambda p, d: _with_data(p, d + b"\x12\x03abc"),
     "amount_cents: field 2 has wire type 2"),
    ("base64", lambda p, d: {**p, "data": "!!"}, "not base64"),
    ("content type", lambda p, d: {**p, "content_type": "application/json"}, "content type"),
    ("reference", lambda p, d: {**p, "schema": "payment.risk_assessed@2"}, "refers to"),
    ("json", lambda p, d: VALUE, "expected a binary payload"),
]


@pytest.mark.parametrize(("change", "needle"), [c[1:] for c in CHANGES],
                         ids=[c[0] for c in CHANGES])
def test_protobuf_payload_rejections(registry: SchemaRegistry, change, needle: str) -> None:
    payload = encode_payload(registry, "payment.risk_assessed", 1, VALUE)
    data = base64.b64decode(payload["data"])
    with pytest.raises(ValidationFailed) as caught:
        registry.validate("payment.risk_assessed", 1, change(payload, data))
    assert caught.value.reason == "schema_invalid"
    assert needle in caught.value.detail


def test_avro_payload_round_trip_and_trailing_bytes() -> None:
    reg = SchemaRegistry(EXAMPLE)
    value = {"payment_id": "pay-1", "risk_level": "HIGH", "amount_cents": 5, "note": None}
    payload = encode_payload(reg, "payment.scored", 2, value)
    assert payload["content_type"] == "avro/binary"
    assert decode_payload(reg, "payment.scored", 2, payload) == value
    bad = _with_data(payload, base64.b64decode(payload["data"]) + b"\x00")
    assert not reg.is_valid("payment.scored", 2, bad)


def test_proto_pipeline_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--pipeline", str(PROTO_PIPELINE), "--transactions", "40",
                 "--seed", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["lost"] == 0 and out["duplicate_effects"] == 0 and out["ledger_balanced"]
    assert out["completed"] + out["declined"] + out["dead_lettered"] == 40
    assert out["completed"] > 0 and out["declined"] > 0


def test_proto_pipeline_chaos_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = ROOT / "chaos" / "payments-proto-message-faults.yaml"
    code = main(["chaos", "run", str(experiment), "--seed", "1", "--out", str(tmp_path),
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["verdicts"]
    assert out["valid"] is True
    assert out["verdicts"]["wire"]["valid"] is True
    assert any("@authorization" in name for name in out["fired"])


def test_proto_rename_caught_by_contracts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "verify", "--provider", "fraud", "--pipeline",
                 str(PROTO_PIPELINE), "--json"]) == 0
    capsys.readouterr()
    assert main(["contracts", "verify", "--provider", "fraud", "--pipeline",
                 str(PROTO_PIPELINE), "--variant", "fraud-v2", "--json"]) == 1
    assert "risk_level" in capsys.readouterr().out


def test_proto_rename_caught_by_compat(capsys: pytest.CaptureFixture[str]) -> None:
    old = PROTO_REGISTRY / "payment.risk_assessed" / "v1.proto"
    new = (ROOT / "examples" / "payments_proto" / "overlays" / "risk-score-rename"
           / "payment.risk_assessed" / "v2.proto")
    assert main(["compat", str(old), str(new), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "FIELD_SCALAR_KIND_CHANGED" in [c["type"] for c in out["changes"]]
    assert out["renames"][0]["to"] == "risk_score"


@pytest.mark.parametrize("path", [
    PROTO_REGISTRY / "payment.risk_assessed" / "v1.proto",
    EXAMPLE / "payment.transaction" / "v2.proto",
    EXAMPLE / "payment.scored" / "v2.avsc",
], ids=["payments_proto", "imports", "avro"])
def test_fuzz_schema_labels_hold(path: Path) -> None:
    report = fuzz_schema(path, examples=60, seed=7)
    assert report.ok, report.failures[:3]
    assert report.valid == 60
    assert "out_of_range_enum" in report.mutations
    again = fuzz_schema(path, examples=60, seed=7)
    assert again.to_dict() == report.to_dict()


def test_fuzz_catches_a_lenient_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels can fail: a validator that accepts everything is caught."""
    import harness.fuzz.binary as fb

    monkeypatch.setattr(fb, "check_protobuf_bytes", lambda *a, **k: ("", None))
    report = fb.fuzz_schema(PROTO_REGISTRY / "payment.risk_assessed" / "v1.proto",
                            examples=5, seed=1)
    assert not report.ok
    assert {f["label"] for f in report.failures} >= {"wrong_wire_type", "out_of_range_enum"}


def test_values_schema_checks_decoded_values(registry: SchemaRegistry) -> None:
    """v1.values.json (the JSON variant's schema) constrains what Protobuf cannot."""
    payload = encode_payload(registry, "payment.risk_assessed", 1,
                             {**VALUE, "payment_id": "not-a-payment"})
    with pytest.raises(ValidationFailed) as caught:
        registry.validate("payment.risk_assessed", 1, payload)
    assert "#/data #/payment_id" in caught.value.detail
    unspecified = encode_payload(registry, "payment.risk_assessed", 1,
                                 {**VALUE, "risk_level": "RISK_LEVEL_UNSPECIFIED"})
    assert not registry.is_valid("payment.risk_assessed", 1, unspecified)
