"""A Go ledger written from docs/black-box.md alone (examples/polyglot/go) under duplicates,
kill -9 mid-delivery and a slow broker link: valid; with its planted bug (a fresh effect key
per delivery) caught by exactly_once. Seeds: ``HARNESS_BLACKBOX_ZOO_SEEDS`` (default 2)."""

from __future__ import annotations

import asyncio
import os

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.runner import run_experiment
from tests.blackbox.conftest import ROOT

SEEDS = range(1, 1 + int(os.environ.get("HARNESS_BLACKBOX_ZOO_SEEDS", "2")))


@pytest.mark.timeout(600)
def test_the_go_ledger_is_valid_under_chaos_and_its_planted_bug_is_caught(
    services, go_ledger, tmp_path
):
    ok = load_experiment(ROOT / "chaos" / "polyglot" / "go-ledger.yaml")
    bug = load_experiment(ROOT / "chaos" / "polyglot" / "go-ledger-fresh-key.yaml")
    for seed in SEEDS:
        result = asyncio.run(
            run_experiment(ok, seed=seed, broker=services, out_dir=tmp_path / f"ok{seed}")
        )
        bad = {k: v.counts for k, v in result.verdicts.items() if v.valid is not True}
        assert result.valid is True, (seed, bad)
        kill = next(f["id"] for f in result.plan if f["fault"] == "kill")
        assert result.fired.get(kill) == 1, result.fired
        # its acks were seen through the tap: its own budget was judged, not unknown
        assert result.verdicts["latency"].counts["agents"]["ledger"]["n"] > 0
        caught = asyncio.run(
            run_experiment(bug, seed=seed, broker=services, out_dir=tmp_path / f"bug{seed}")
        )
        eo = caught.verdicts["exactly_once"]
        assert eo.valid is False and caught.expectation_met, (seed, eo.counts)
