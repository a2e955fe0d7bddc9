"""Broken agents the bug zoo does not have (tests/checkers/broken/), each run as a chaos
experiment on three seeds: every one caught by the checker its experiment names, on every seed.

Simulated (memory broker, virtual clock): deterministic and a second or so per run. The same
experiments on the wall clock: ``harness chaos run tests/checkers/broken/NAME.yaml --seed S``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.sim import simulate_experiment

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def test_there_are_broken_agents_of_several_kinds():
    assert len(BROKEN) >= 5


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_every_broken_agent_is_caught_by_its_named_checker(path, seed, tmp_path):
    exp = load_experiment(path)
    caught_by = exp.caught_by
    result = simulate_experiment(exp, seed=seed, out_dir=tmp_path)
    assert result.valid is False
    missed = [name for name in caught_by if result.verdicts[name].valid is not False]
    assert not missed, (
        f"{path.stem} seed {seed}: {missed} did not catch it; "
        f"{ {k: v.valid for k, v in result.verdicts.items()} }"
    )
    assert result.expectation_met
