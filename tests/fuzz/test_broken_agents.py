"""Each class of broken agent is found within 500 examples, with a shrunk, runnable reproducer."""

from __future__ import annotations

import pytest

from harness.agents.sdk import Agent
from harness.contracts.registry import SchemaRegistry
from harness.fuzz import fuzz_agent
from tests.fuzz import broken_agents as zoo

SEED = 20261126

CASES = [
    # (agent, a word every failure line of the shrunk case must mention)
    (zoo.no_validation, "invalid input"),
    (zoo.no_validation_tolerant, "invalid input"),
    (zoo.effect_first, "side effect"),
    (zoo.crash_on_max_amount, "crash"),
    (zoo.crash_on_long_customer, "crash"),
    (zoo.crash_on_gbp_memo, "crash"),
    (zoo.crash_on_empty_memo, "crash"),
    (zoo.hangs, "crash"),
    (zoo.bad_egress, "emitted"),
    (zoo.forwards_memo_summary, "injected text forwarded"),
    (zoo.forwards_memo_reasons, "injected text forwarded"),
    (zoo.steered_fraud, "steered by injected text"),
    (zoo.memo_to_effect, "injected text reached effect"),
]


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry()


@pytest.mark.parametrize(("agent", "word"), CASES, ids=[a.version for a, _ in CASES])
def test_broken_agent_is_found_with_a_shrunk_reproducer(agent: Agent, word: str,
                                                        registry: SchemaRegistry) -> None:
    report = fuzz_agent(agent, registry, examples=500, seed_=SEED)
    assert not report.ok, f"{agent.version} passed {report.inputs} inputs"
    failure = report.failures[0]
    assert any(word in p for p in failure.problems), failure.problems
    assert report.inputs <= 500
    # the reproducer is a pytest test that fails the same way when run
    namespace: dict = {"AGENT": agent}
    exec(compile(failure.reproducer, "<reproducer>", "exec"), namespace)
    test = next(v for k, v in namespace.items() if k.startswith("test_fuzz_"))
    with pytest.raises(AssertionError) as info:
        test()
    assert any(word in p for p in info.value.args[0]), info.value.args[0]


def test_shrunk_crash_is_minimal(registry: SchemaRegistry) -> None:
    report = fuzz_agent(zoo.crash_on_gbp_memo, registry, examples=500, seed_=SEED)
    case = report.failures[0].case
    assert case.valid
    import json

    payload = json.loads(case.body)["payload"]
    assert payload["currency"] == "GBP" and "memo" in payload
    # shrunk: the other fields are at their simplest
    assert payload["amount_cents"] == 1 and len(payload["customer_id"]) == 1
