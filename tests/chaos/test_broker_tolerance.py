"""broker_tolerance: latency budgets scale on real brokers only, never fallback rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.runner import checker_options
from harness.errors import PipelineError
from harness.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_memory_keeps_the_declared_budgets_and_amqp_scales_them():
    exp = load_experiment(ROOT / "chaos" / "rides-slow-eta.yaml")
    spec = load_pipeline(exp.pipeline)
    assert exp.broker_latency_factor == 2
    memory = checker_options(exp, spec, "memory")
    # declared budgets on memory, plus the allowance for the load measured in the run
    assert memory["latency"] == {**exp.checker_options()["latency"], "load_allowance": 3.0}
    assert memory["exactly_once"]["unique"] == spec.effects  # the pipeline's business keys
    lat = checker_options(exp, spec, "amqp://guest:guest@127.0.0.1:5672/")["latency"]
    declared = exp.checker_options()["latency"]["budgets"]["eta"]
    assert lat["budgets"]["eta"]["p99_ms"] == declared["p99_ms"] * 2
    assert lat["budgets"]["eta"]["fallback_rate"] == declared["fallback_rate"]
    for agent, budget in spec.all_budgets().items():
        for key, value in budget.items():
            if key.endswith("_ms") and key not in (declared if agent == "eta" else {}):
                assert lat["budgets"][agent][key] == value * 2


def test_zoo_experiments_are_not_scaled():
    for path in (ROOT / "chaos" / "zoo").glob("*.yaml"):
        exp = load_experiment(path)
        assert exp.broker_latency_factor == 1.0, path.name
        for broker in ("memory", "amqp://guest:guest@127.0.0.1:5672/"):  # nor given an allowance
            opts = checker_options(exp, load_pipeline(exp.pipeline), broker)
            assert "load_allowance" not in opts.get("latency", {}), path.name


def test_bad_broker_tolerance_is_refused(tmp_path: Path):
    text = (ROOT / "chaos" / "rides-slow-eta.yaml").read_text()
    bad = tmp_path / "x.yaml"
    bad.write_text(text.replace("pipeline: ../examples", f"pipeline: {ROOT}/examples")
                   .replace("latency_factor: 2", "latency_factor: 0.5"))
    with pytest.raises(PipelineError, match=r"broker_tolerance\.latency_factor"):
        load_experiment(bad)
