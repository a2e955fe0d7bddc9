"""Contracts and fuzzing through a running black box's queue: the plain-Python fraud service of
examples/polyglot is verified against the authorization agent's pact and fuzzed (valid, invalid
and injection inputs judged from outside); its planted-bug modes are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts.target import resolve_target
from harness.contracts.verify import verify_provider
from harness.fuzz import fuzz_pipeline
from tests.blackbox.conftest import POLYGLOT, ROOT

PACTS = ROOT / "contracts" / "pacts"
STATES = f"{POLYGLOT / 'provider_states.py'}:states"


def _pipeline(tmp: Path, fraud_env: dict[str, str] | None = None) -> Path:
    """The polyglot pipeline with absolute paths (and extra environment for fraud)."""
    text = (POLYGLOT / "pipeline.yaml").read_text()
    text = (text.replace("../../contracts", str(ROOT / "contracts"))
            .replace("../payments/agents.py", str(ROOT / "examples/payments/agents.py"))
            .replace("[python, fraud_service.py]", f"[python, {POLYGLOT / 'fraud_service.py'}]")
            .replace("node/", f"{POLYGLOT / 'node'}/"))
    if fraud_env:
        env = ", ".join(f'{k}: "{v}"' for k, v in fraud_env.items())
        text = text.replace("    emits: [payment.risk_assessed@1]\n",
                            f"    emits: [payment.risk_assessed@1]\n    env: {{{env}}}\n", 1)
    path = tmp / "pipeline.yaml"
    path.write_text(text)
    return path


@pytest.mark.timeout(180)
def test_black_box_fraud_service_honours_the_authorization_pact(services, tmp_path):
    target = resolve_target("fraud", pipeline=_pipeline(tmp_path), states_ref=STATES,
                            amqp_url=services)
    assert target.black_box is not None
    report = verify_provider(target, pacts=PACTS)
    assert report.ok and len(report.outcomes) == 2, [o.__dict__ for o in report.outcomes]


@pytest.mark.timeout(180)
def test_black_box_fraud_service_that_renames_risk_level_breaks_the_pact(services, tmp_path):
    target = resolve_target("fraud", states_ref=STATES, amqp_url=services,
                            pipeline=_pipeline(tmp_path, {"FRAUD_RISK_FIELD": "risk_score"}))
    report = verify_provider(target, pacts=PACTS)
    assert not report.ok
    text = str([m.__dict__ for o in report.failures for m in o.mismatches])
    assert "risk_level" in text, text


@pytest.mark.timeout(300)
def test_fuzzing_the_fraud_service_through_its_queue_holds(services, tmp_path):
    report = fuzz_pipeline(_pipeline(tmp_path), agent="fraud", examples=20, seed_=1,
                           broker=services)
    fraud = report.agents[0]
    assert fraud.skipped is None and fraud.inputs >= 20, fraud
    assert not fraud.failures, fraud.failures[0].problems if fraud.failures else None
    assert fraud.invalid > 0 and fraud.dead_lettered > 0


@pytest.mark.timeout(300)
def test_fuzzing_finds_a_fraud_service_that_forwards_unvalidated_input(services, tmp_path):
    report = fuzz_pipeline(_pipeline(tmp_path, {"FRAUD_VALIDATE": "off"}), agent="fraud",
                           examples=20, seed_=1, broker=services)
    fraud = report.agents[0]
    assert fraud.failures, "an unvalidating black box passed the fuzzer"
    problems = " ".join(fraud.failures[0].problems)
    assert "not dead-lettered" in problems or "fails its schema" in problems, problems
    assert "def test_" in fraud.failures[0].reproducer


@pytest.mark.timeout(300)
def test_fuzzing_the_node_ledger_through_its_queue_holds(services, node_modules, tmp_path):
    """The Node ledger validates payloads against its contract: invalid input is rejected to
    its dead-letter queue, nothing malformed is posted or published."""
    report = fuzz_pipeline(_pipeline(tmp_path), agent="ledger", examples=20, seed_=2,
                           broker=services)
    ledger = report.agents[0]
    assert ledger.skipped is None and ledger.inputs >= 20, ledger
    assert not ledger.failures, ledger.failures[0].problems if ledger.failures else None
    assert ledger.invalid > 0 and ledger.dead_lettered > 0
