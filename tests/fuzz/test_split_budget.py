"""An agent's fuzz budget split between two processes (harness.fuzz.runner.fuzz_agent): the
report is the sum of the two halves, the same seed gives the same report, and a failing child
costs time, never inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness import forking
from harness.contracts.registry import SchemaRegistry
from harness.errors import InputError
from harness.fuzz import fuzz_agent
from harness.fuzz import runner as fuzz_runner
from harness.fuzz.runner import AgentReport, _fuzz_one, second_seed
from tests.forks import count_forks
from tests.fuzz import broken_agents as zoo

ROOT = Path(__file__).resolve().parents[2]
N = fuzz_runner.SPLIT_EXAMPLES

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this system")


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(ROOT / "contracts")


@pytest.fixture(scope="module")
def fraud() -> Any:
    """The payments pipeline's fraud agent (a correct one), with its params."""
    from harness.pipeline import load_pipeline

    return load_pipeline(ROOT / "examples" / "payments" / "pipeline.yaml").agents["fraud"]


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Two processors whatever the machine has; the forks made are counted."""
    return count_forks(monkeypatch, fuzz_runner.PROCESSES_ENV)


def _plain(report: AgentReport) -> dict[str, Any]:
    return {k: v for k, v in report.to_dict().items() if k not in ("elapsed_s", "examples_per_s")}


def test_a_split_budget_is_its_two_halves_added_up(registry: SchemaRegistry, fraud: Any,
                                                   forks: list[int]) -> None:
    agent, extra = fraud.agent, {"params": fraud.params, "dependencies": fraud.dependencies}
    calls: list[tuple[str, int, int]] = []
    split = fuzz_agent(agent, registry, examples=N, seed_=4, **extra,
                       progress=lambda *a: calls.append(a))
    assert len(forks) == 1 and split.inputs == N and split.ok
    assert sum(split.kinds.values()) == N and split.valid + split.invalid == N
    assert calls[-1] == (agent.name, N, N)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)  # never goes back
    mine = (N + 1) // 2
    halves = _fuzz_one(agent, registry, examples=mine, seed_=4, **extra, pipeline=None,
                       sweep=N)
    halves.merge(_fuzz_one(agent, registry, examples=N - mine, seed_=second_seed(4), **extra,
                           pipeline=None, sweep=0))
    assert _plain(split) == _plain(halves)  # the child's half is the one it reported


def test_the_same_seed_gives_the_same_split_report(registry: SchemaRegistry,
                                                   forks: list[int]) -> None:
    one = fuzz_agent(zoo.crash_on_max_amount, registry, examples=N + 100, seed_=11)
    two = fuzz_agent(zoo.crash_on_max_amount, registry, examples=N + 100, seed_=11)
    assert len(forks) == 2 and not one.ok
    assert _plain(one) == _plain(two)
    assert one.failures[0].reproducer == two.failures[0].reproducer


def test_a_child_that_fails_leaves_its_half_to_this_process(
    registry: SchemaRegistry, fraud: Any, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = forking.result
    monkeypatch.setattr(forking, "result", lambda child: real(child) and None)
    report = fuzz_agent(fraud.agent, registry, examples=N, seed_=4, params=fraud.params,
                        dependencies=fraud.dependencies)
    assert len(forks) == 1 and report.inputs == N and report.ok


def test_one_process_when_told_or_for_a_small_budget(
    registry: SchemaRegistry, fraud: Any, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"params": fraud.params, "dependencies": fraud.dependencies}
    assert fuzz_agent(fraud.agent, registry, examples=N - 1, seed_=4, **extra).inputs == N - 1
    monkeypatch.setenv(fuzz_runner.PROCESSES_ENV, "1")
    assert fuzz_agent(fraud.agent, registry, examples=N, seed_=4, **extra).inputs == N
    assert forks == []
    monkeypatch.setenv(fuzz_runner.PROCESSES_ENV, "two")
    with pytest.raises(InputError, match=f"{fuzz_runner.PROCESSES_ENV}: must be"):
        fuzz_agent(fraud.agent, registry, examples=N, seed_=4, **extra)


def test_a_failure_only_the_second_half_found_is_kept() -> None:
    first, second = AgentReport("a", 1, inputs=3), AgentReport("a", 1, inputs=2)
    second.failures = ["found"]  # type: ignore[list-item]
    first.merge(second)
    assert first.inputs == 5 and first.failures == ["found"]
    third = AgentReport("a", 1, inputs=1)
    third.failures = ["other"]  # type: ignore[list-item]
    first.merge(third)
    assert first.failures == ["found"]  # at most one per agent: the first kept


@pytest.mark.parametrize("value", ["0", "lots"])
def test_a_bad_default_budget_is_one_error_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.fuzz.fixtures import assert_fuzz_ok

    monkeypatch.setenv("HARNESS_FUZZ_EXAMPLES", value)
    with pytest.raises(InputError, match="HARNESS_FUZZ_EXAMPLES: must be a whole number"):
        assert_fuzz_ok(ROOT / "examples" / "payments" / "pipeline.yaml", agent="fraud")
