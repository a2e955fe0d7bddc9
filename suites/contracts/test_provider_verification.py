"""Provider verification of the committed pacts (runs after the consumer tests, by name).

Every producer agent of the payments example is verified against contracts/pacts/; the pacts the
consumer tests just generated must equal the committed ones (regenerate them with
``--harness-pact-dir contracts/pacts``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contracts.pactfiles import load_pacts
from harness.contracts.target import resolve_target
from harness.contracts.verify import verify_provider

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"
PACTS = ROOT / "contracts" / "pacts"
PROVIDERS = ["orchestrator", "fraud", "authorization", "ledger", "notification"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_satisfies_its_consumers(provider):
    report = verify_provider(resolve_target(provider, pipeline=PIPELINE), pacts=PACTS)
    assert report.outcomes, f"no interactions verified for {provider}"
    assert report.ok, json.dumps(report.to_dict(), indent=2)


def test_every_consumer_producer_pair_has_a_pact():
    pairs = {(p.consumer, p.provider) for p in load_pacts(PACTS)}
    assert pairs == {("fraud", "orchestrator"), ("authorization", "fraud"),
                     ("ledger", "authorization"), ("notification", "authorization"),
                     ("notification", "ledger"), ("orchestrator", "notification")}


def test_committed_pacts_match_the_consumer_tests(generated_pacts, pytestconfig):
    target = pytestconfig.getoption("--harness-pact-dir")
    if target and Path(target).resolve() == PACTS.resolve():
        pytest.skip("regenerating contracts/pacts in this run")
    merged = generated_pacts.merged()
    if not merged:
        pytest.skip("no consumer tests ran in this session")
    for (consumer, provider), doc in merged.items():
        committed = json.loads((PACTS / f"{consumer}-{provider}.json").read_text())
        assert committed["interactions"] == doc["interactions"], (
            f"contracts/pacts/{consumer}-{provider}.json is stale: rerun the contract suite "
            "with --harness-pact-dir contracts/pacts")


def test_fraud_v2_breaks_authorization():
    target = resolve_target("fraud", pipeline=PIPELINE, variant="fraud-v2")
    report = verify_provider(target, pacts=PACTS)
    assert not report.ok
    paths = {(o.consumer, m.path) for o in report.failures for m in o.mismatches}
    assert ("authorization", "$.risk_level") in paths
