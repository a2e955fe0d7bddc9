"""Faults pinned to a message (by id, or by correlation and hop) fire on it and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.chaos.experiment import load_experiment
from harness.chaos.schedule import FaultSpec, plan
from harness.envelope import derive_id
from harness.errors import PipelineError
from harness.history import read_history
from harness.sim import simulate_experiment

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"


def _experiment(tmp_path: Path, method: list[dict], **extra) -> Path:
    doc = {"title": "pinned", "pipeline": str(PIPELINE), "seed": 3,
           "workload": {"generator": "payments", "count": 8, "rate": 100,
                        "mix": {"valid": 1.0}},
           "method": method, **extra}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _fault_starts(run_dir: Path) -> list[dict]:
    return [e for e in read_history(run_dir / "history.jsonl").events
            if e["kind"] == "fault_start"]


def test_a_duplicate_pinned_by_message_id_fires_on_that_message_only(tmp_path):
    # the ingress message of the third payment (ids are derived, so known before the run)
    target = derive_id("msg", "pay-3-000002", "payment.requested")
    exp = load_experiment(_experiment(tmp_path, [
        {"fault": "duplicate", "target": "orchestrator", "message": target}]))
    result = simulate_experiment(exp, out_dir=tmp_path / "run")
    starts = _fault_starts(tmp_path / "run")
    assert [(e["fault"], e["message_id"]) for e in starts] == [("duplicate", target)]
    assert result.valid is True


def test_a_crash_pinned_by_correlation_and_hop_hits_that_handoff(tmp_path):
    # hop 0 = the input (to orchestrator), 1 = fraud's input, 2 = authorization's,
    # 3 = ledger's, 4 = notification's
    exp = load_experiment(_experiment(tmp_path, [
        {"fault": "crash_after_effect", "target": "*", "correlation": "pay-3-000005",
         "hop": 3}]))
    simulate_experiment(exp, out_dir=tmp_path / "run")
    starts = _fault_starts(tmp_path / "run")
    assert [(e["correlation_id"], e["agent"]) for e in starts] == [("pay-3-000005", "ledger")]


def test_a_pinned_fault_for_a_message_that_never_comes_never_fires(tmp_path):
    exp = load_experiment(_experiment(tmp_path, [
        {"fault": "poison", "message": "not-a-message-of-this-run"}]))
    result = simulate_experiment(exp, out_dir=tmp_path / "run")
    assert _fault_starts(tmp_path / "run") == [] and result.fired == {}


def test_pins_are_in_the_plan_only_when_set():
    planned = plan([FaultSpec("duplicate", "ledger", message="m1"),
                    FaultSpec("duplicate", "ledger", probability=0.5)], seed=1)
    assert planned[0].to_dict()["message"] == "m1" and "message" not in planned[1].to_dict()
    assert planned[0].matches("m1", "c", 2) and not planned[0].matches("m2", "c", 2)
    assert planned[1].matches("anything", None, None)


@pytest.mark.parametrize("fault, message", [
    ({"fault": "pause", "target": "ledger", "message": "m1"}, "only per-message faults"),
    ({"fault": "duplicate", "hop": 2}, "hop needs correlation"),
    ({"fault": "duplicate", "hop": -1, "correlation": "c"}, "hop"),
])
def test_bad_pins_are_one_clear_error(tmp_path, fault, message):
    with pytest.raises(PipelineError, match=message) as err:
        load_experiment(_experiment(tmp_path, [fault]))
    assert "exp.yaml" in str(err.value)
