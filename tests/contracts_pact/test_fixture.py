"""The message_pact fixture: one Pact per test, merged at the end of the run."""

from __future__ import annotations

import json

pytest_plugins = ["pytester"]

TEST = '''
from pact import match
from harness.contracts.target import default_pipeline
from harness.pipeline import load_pipeline

AUTH = load_pipeline(default_pipeline()).agents["authorization"].agent
P = {"payment_id": "pay-1", "amount_cents": 1250, "currency": "EUR", "customer_id": "c",
     "merchant_id": "m"}

def test_high(message_pact):
    pact = message_pact(AUTH, provider="fraud")
    pact.expect("high", message="payment.risk_assessed@1", body={**P, "risk_level": "high"})
    pact.verify()

def test_low(message_pact):
    pact = message_pact(AUTH, provider="fraud")
    pact.expect("low", message="payment.risk_assessed@1", body={**P, "risk_level": "low"})
    pact.verify()

def test_failing_is_not_written(message_pact):
    pact = message_pact(AUTH, provider="fraud")
    pact.expect("failing", message="payment.risk_assessed@1", body={**P, "risk_level": "low"})
    pact.verify()
    assert False
'''


def test_pacts_of_passing_tests_are_merged(pytester):
    pytester.makepyfile(test_pacts=TEST)
    out = pytester.path / "pacts"
    from harness.contracts.target import default_pipeline

    result = pytester.runpytest_subprocess("-p", "no:pact", "--harness-pact-dir", str(out),
                                           "--harness-pipeline", str(default_pipeline()))
    result.assert_outcomes(passed=2, failed=1)
    doc = json.loads((out / "authorization-fraud.json").read_text())
    assert [i["description"] for i in doc["interactions"]] == ["high", "low"]
