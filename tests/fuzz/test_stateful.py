"""The stateful fuzzer: a healthy pipeline passes; loss and double effects shrink to a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fuzz.stateful import run_stateful

PAYMENTS = str(Path(__file__).resolve().parents[2] / "examples" / "payments" / "pipeline.yaml")


def test_payments_pipeline_keeps_no_loss_and_exactly_once() -> None:
    result = run_stateful(PAYMENTS, examples=15, steps=10, seed_=4)
    assert result.ok, result.reproducer


@pytest.mark.parametrize(("override", "problem", "max_steps"), [
    ({"ledger": "tests.fuzz.broken_agents:double_posting_ledger"}, "applied 2 times", 2),
    ({"authorization": "tests.fuzz.broken_agents:dropping_authorization"}, "lost", 1),
])
def test_broken_pipeline_shrinks_to_a_pasteable_test(override: dict, problem: str,
                                                     max_steps: int) -> None:
    result = run_stateful(PAYMENTS, examples=40, steps=10, seed_=4, overrides=override)
    assert not result.ok
    assert any(problem in p for p in result.problems), result.problems
    assert len(result.steps) <= max_steps, result.steps
    namespace: dict = {}
    exec(compile(result.reproducer, "<reproducer>", "exec"), namespace)
    with pytest.raises(AssertionError):
        namespace["test_stateful_fuzz_repro"]()
