"""docs/envelope.md's test vectors and rules agree with harness/envelope.py."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from harness.envelope import Envelope, Producer, TraceContext, derive_id

DOC = Path(__file__).resolve().parent.parent / "docs" / "envelope.md"


def _vectors() -> dict:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Test vectors", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block, "docs/envelope.md has no ```json block under '## Test vectors'"
    return json.loads(block.group(1))


def _parent(ids: dict) -> Envelope:
    return Envelope(message_id=ids["message_id"], correlation_id="c", causation_id=None,
                    type="t", schema_version=1, idempotency_key=ids["idempotency_key"],
                    producer=Producer("p", "1"), produced_at="2026-01-01T00:00:00.000000Z",
                    trace=TraceContext(ids["traceparent"]), payload={})


def _ids(env: Envelope) -> dict:
    return {"message_id": env.message_id, "idempotency_key": env.idempotency_key,
            "traceparent": env.trace.traceparent}


def test_derive_id_vectors_match_and_the_rule_is_plain_sha256() -> None:
    for case in _vectors()["derive_id"]:
        assert derive_id(*case["parts"], length=case["length"]) == case["id"]
        text = "|".join(case["parts"]).encode("utf-8")
        assert hashlib.sha256(text).hexdigest()[:case["length"]] == case["id"]


def test_ingress_and_children_vectors_match_the_implementation() -> None:
    v = _vectors()
    ing = v["ingress"]
    env = Envelope.ingress(type=ing["type"], schema_version=1, payload={},
                           correlation_id=ing["identity"])
    assert _ids(env) == ing["expect"]
    for case in v["children"]:
        parent = _parent(case["parent"])
        child = parent.child(type=case["type"], schema_version=1, payload={},
                             producer=Producer(case["agent"], "x"), index=case["index"])
        assert _ids(child) == case["expect"]
        assert child.causation_id == parent.message_id
    # the chain is consistent: the first child's expectation is the second's parent
    assert v["children"][0]["expect"] == v["children"][1]["parent"]
    assert v["children"][0]["parent"] == ing["expect"]


def test_effect_and_outcome_keys_follow_the_documented_rule() -> None:
    v = _vectors()
    for case in v["effect_keys"]:
        assert derive_id("effect", case["input_idempotency_key"], case["agent"],
                         case["effect"]) == case["key"]
    for case in v["outcome_keys"]:
        assert derive_id("outcome", case["correlation_id"]) == case["key"]


def test_the_example_envelope_in_the_doc_parses() -> None:
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"```json\n(\{\n  \"envelope\": 1.*?)```", text, re.S)
    assert example
    env = Envelope.from_bytes(example.group(1).encode())
    assert env.type == "payment.accepted" and env.causation_id is not None
