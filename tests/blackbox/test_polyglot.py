"""The polyglot payments pipeline (Node ledger/notification, plain-Python fraud) under chaos:
valid with duplicates, a kill -9 of the Node ledger mid-delivery and a slow broker link; the
Node ledger that deduplicates nothing is caught by exactly_once on every seed tried
(``HARNESS_BLACKBOX_ZOO_SEEDS``, default 2)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.runner import run_experiment
from tests.blackbox.conftest import ROOT

EXPERIMENT = ROOT / "chaos" / "polyglot" / "payments-black-boxes.yaml"
ZOO = ROOT / "chaos" / "polyglot" / "ledger-no-dedup.yaml"
ZOO_SEEDS = range(1, 1 + int(os.environ.get("HARNESS_BLACKBOX_ZOO_SEEDS", "2")))


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


@pytest.mark.timeout(300)
def test_black_boxes_keep_their_promises_under_duplicates_kill_and_slow_link(
        services, node_modules, tmp_path):
    exp = load_experiment(EXPERIMENT)
    result = asyncio.run(run_experiment(exp, broker=services, out_dir=tmp_path))
    bad = {k: (v.counts, v.examples) for k, v in result.verdicts.items() if v.valid is not True}
    assert result.valid is True, bad
    events = _events(tmp_path)
    kill = [e for e in events if e["kind"] == "fault_start" and e["fault"] == "kill"]
    assert len(kill) == 1 and kill[0]["mid_delivery"] is True, kill
    # the killed process died by SIGKILL and the supervisor started a new one
    crash = [e for e in events if e["kind"] == "agent_crash" and e["agent"] == "ledger"]
    assert crash and crash[0]["exit_code"] == -9
    assert any(e["kind"] == "fault_end" and e["fault"] == "kill" and e.get("new_pid")
               for e in events)
    assert result.fired.get(next(f["id"] for f in result.plan if f["fault"] == "duplicate"))
    # effects came from the services' own tables through the probes
    probed = {e["agent"] for e in events if e["kind"] == "effect" and e.get("source") == "probe"}
    assert probed == {"fraud", "ledger", "notification"}
    routed = [e for e in events if e["kind"] == "publish" and e.get("producer") == "ledger"]
    assert routed and all(e.get("body") for e in routed)


@pytest.mark.timeout(600)
def test_node_ledger_without_dedup_is_caught_by_exactly_once_on_every_seed(
        services, node_modules, tmp_path):
    exp = load_experiment(ZOO)
    for seed in ZOO_SEEDS:
        result = asyncio.run(run_experiment(exp, seed=seed, broker=services,
                                            out_dir=tmp_path / f"s{seed}"))
        eo = result.verdicts["exactly_once"]
        assert eo.valid is False and eo.counts["duplicate_key"] > 0, (seed, eo.counts)
        assert result.expectation_met, seed


@pytest.mark.timeout(180)
def test_the_node_ledger_accepts_the_messages_its_pact_expects(services, node_modules):
    from harness.blackbox.consumer import check_consumer
    from harness.pipeline import load_pipeline

    spec = load_pipeline(ROOT / "examples" / "polyglot" / "pipeline.yaml")
    results = check_consumer(spec, "ledger", ROOT / "contracts" / "pacts", broker=services)
    assert results and all(r.ok for r in results), [(r.description, r.problems) for r in results]
    assert all(r.outcome == "acked" and r.published == ["ledger.posted"] for r in results)
