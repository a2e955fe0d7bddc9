"""Experiment files: the shape, tolerances, and one clear error with the line for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment, parse_tolerance
from harness.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]
PIPE = ROOT / "examples" / "payments" / "pipeline.yaml"


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(f"pipeline: {PIPE}\n" + body)
    return p


def test_bundled_experiments_load():
    for path in [*(ROOT / "chaos").glob("*.yaml"), *(ROOT / "chaos" / "zoo").glob("*.yaml")]:
        exp = load_experiment(path)
        assert exp.probes and exp.pipeline.exists()


def test_tolerances():
    assert parse_tolerance("p99 <= 300ms", where="x") == ("p99_ms", 300.0)
    assert parse_tolerance("p95 < 1.5s", where="x") == ("p95_ms", 1500.0)
    assert parse_tolerance("fallback_rate <= 0.2", where="x") == ("fallback_rate", 0.2)
    with pytest.raises(PipelineError, match="not like"):
        parse_tolerance("p99 is small", where="x")


def test_latency_probe_options(tmp_path):
    exp = load_experiment(write(tmp_path, """
steady-state-hypothesis:
  probes:
    - checker: latency
      agent: fraud
      tolerance: ["p99 <= 300ms"]
    - checker: latency
      tolerance: ["p95 <= 2s", "fallback_rate <= 0.2"]
"""))
    opts = exp.checker_options()["latency"]
    assert opts["budgets"] == {"fraud": {"p99_ms": 300.0}, "end_to_end": {"p95_ms": 2000.0}}
    assert opts["fallback_rate"] == 0.2


@pytest.mark.parametrize("body, needle, line", [
    ("method:\n  - fault: meteor\n", "unknown fault 'meteor'", 3),
    ("method:\n  - fault: duplicate\n    probability: 2\n", "<= 1", 4),
    ("method:\n  - fault: delay\n    at: [3, 1]\n", "[low, high]", 4),
    ("method:\n  - fault: drop\n    params: {mode: maybe}\n", "confirm or lose", 4),
    ("steady-state-hypothesis:\n  probes:\n    - checker: vibes\n", "unknown checker", 4),
    ("steady-state-hypothesis:\n  probes:\n    - checker: latency\n"
     "      tolerance: p99 soon\n", "not like", 5),
    ("workload:\n  mix: {valid: 0.5}\n", "add up to 1", 3),
    ("colour: blue\n", "unknown field 'colour'", 2),
    ("method: [\n", "not valid YAML", None),
])
def test_bad_files_get_one_clear_error_with_the_line(tmp_path, body, needle, line):
    with pytest.raises(PipelineError) as info:
        load_experiment(write(tmp_path, body))
    msg = str(info.value)
    assert needle in msg and "exp.yaml" in msg
    if line:
        assert f"exp.yaml:{line}" in msg


def test_missing_pipeline(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text("pipeline: nowhere.yaml\n")
    with pytest.raises(PipelineError, match="no such pipeline"):
        load_experiment(p)
