"""The latency budgets of a correct experiment get an allowance for the machine's load measured
in the same run (docs/chaos.md), and a real breach made on purpose is still caught under it: a
handler that takes 1.5 s against a 100 ms budget is beyond any allowance (capped at 1 s)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.runner import run_experiment

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

PIPELINE = """\
name: slowdesk
registry: contracts
ingress: job.requested@1
agents:
  desk:
    handler: agents.py:desk
    timeout_ms: 5000
    budget: {p99_ms: 100}
"""

AGENTS = """\
import asyncio

from harness import Agent

desk = Agent("desk", "1.0.0", consumes=["job.requested@1"], emits=[])


@desk.handler
async def handle(ctx, msg):
    await ctx.outcome("completed")


slow_desk = desk.variant(version="slow")


@slow_desk.handler
async def handle_slowly(ctx, msg):
    await asyncio.sleep(1.5)  # the breach, on purpose
    await ctx.outcome("completed")
"""

EXPERIMENT = """\
title: desk jobs
pipeline: pipeline.yaml
seed: 1
workload: {count: 6, rate: 50}
steady-state-hypothesis:
  probes: [no_loss, latency]
method:
  - {fault: duplicate, target: desk, probability: 1.0, max: 1}
broker_tolerance: {latency_factor: 2}
settle_timeout: 30
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "contracts" / "job.requested").mkdir(parents=True)
    (tmp_path / "contracts" / "job.requested" / "v1.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "agents.py").write_text(AGENTS)
    (tmp_path / "ok.yaml").write_text(EXPERIMENT + "expect: {valid: true}\n")
    (tmp_path / "slow.yaml").write_text(
        EXPERIMENT + "variants: {desk: agents.py:slow_desk}\n"
        "expect: {valid: false, caught_by: [latency]}\n"
    )
    return tmp_path


@pytest.mark.serial  # a latency verdict: never beside another chaos run
def test_a_real_breach_is_caught_under_the_load_allowance(tmp_path):
    root = _project(tmp_path)
    slow = asyncio.run(run_experiment(load_experiment(root / "slow.yaml"), out_dir=root / "slow"))
    lat = slow.verdicts["latency"]
    assert lat.valid is False and slow.expectation_met, lat
    assert 0 <= lat.counts["load_allowance_ms"] <= 1000
    assert lat.examples["budget"][0]["value"] >= 1400
    ok = asyncio.run(run_experiment(load_experiment(root / "ok.yaml"), out_dir=root / "ok"))
    assert ok.verdicts["latency"].valid is True, ok.verdicts["latency"]
    events = [json.loads(line) for line in (root / "ok" / "history.jsonl").open()]
    notes = [e for e in events if e["kind"] == "note" and e.get("note") == "load"]
    assert len(notes) == 1 and notes[0]["samples"] > 0
