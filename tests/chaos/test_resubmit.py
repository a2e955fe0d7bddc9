"""The resubmit fault: same payload and idempotency key, new message id (and correlation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.faults import resubmission
from harness.errors import PipelineError
from tests.chaos.test_faults import deliveries, env


async def test_resubmit_delivers_the_original_and_a_copy_with_a_new_message_id():
    got, events, _ = await deliveries("resubmit")
    assert len(got) == 10
    originals = [json.loads(b) for b in got[0::2]]
    copies = [json.loads(b) for b in got[1::2]]
    for o, c in zip(originals, copies, strict=True):
        assert c["message_id"] != o["message_id"]
        assert (c["idempotency_key"], c["payload"], c["correlation_id"]) == (
            o["idempotency_key"], o["payload"], o["correlation_id"])
    starts = [e for e in events if e["kind"] == "fault_start"]
    assert [s["copy_message_id"] for s in starts] == [c["message_id"] for c in copies]


async def test_a_client_retry_gets_a_new_correlation_id_too():
    got, events, _ = await deliveries("resubmit", {"correlation": "new"}, n=2)
    o, c = json.loads(got[0]), json.loads(got[1])
    assert c["correlation_id"] != o["correlation_id"]
    assert c["correlation_id"].startswith(o["correlation_id"])
    assert c["idempotency_key"] == o["idempotency_key"]
    start = next(e for e in events if e["kind"] == "fault_start")
    assert start["copy_correlation_id"] == c["correlation_id"]


def test_resubmission_is_deterministic_and_skips_non_envelopes():
    assert resubmission(env(1), {}, "f0") == resubmission(env(1), {}, "f0")
    assert resubmission(env(1), {}, "f0") != resubmission(env(1), {}, "f1")
    assert resubmission(b"\xff{not json", {}, "f0") is None


def test_a_bad_correlation_mode_is_one_clear_error(tmp_path):
    pipeline = Path(__file__).resolve().parents[2] / "examples" / "payments" / "pipeline.yaml"
    exp = tmp_path / "e.yaml"
    exp.write_text(f"pipeline: {pipeline}\nmethod:\n  - fault: resubmit\n    target: ledger\n"
                   "    params: {correlation: sideways}\n")
    with pytest.raises(PipelineError, match=r"e.yaml:\d+: method\[0\].params.*sideways"):
        load_experiment(exp)
