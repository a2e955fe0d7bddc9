"""Schedules are pure functions of the seed (tested by simulation)."""

from __future__ import annotations

import random

from harness.chaos.schedule import FaultSpec, decide, fraction, plan

SPECS = [
    FaultSpec("duplicate", "ledger", probability=0.3),
    FaultSpec("pause", "fraud", at=(0.1, 0.5), duration=(0.05, 0.2), repeat=3),
    FaultSpec("slow_dependency", "eta.eta_model", at=(0.0, 1.0), duration=0.3,
              params={"latency_ms": 400}),
]


def test_same_seed_same_plan_and_different_seeds_differ():
    assert plan(SPECS, 7) == plan(SPECS, 7)
    plans = {tuple((f.start, f.end) for f in plan(SPECS, s)) for s in range(50)}
    assert len(plans) > 40


def test_windows_stay_inside_their_ranges():
    for seed in range(200):
        for f in plan(SPECS, seed):
            if f.fault == "pause":
                assert 0.1 <= f.start <= 0.5 and 0.05 <= f.end - f.start <= 0.2 + 1e-9
            if f.fault == "duplicate":
                assert f.start == 0 and f.end is None


def test_per_message_decisions_do_not_depend_on_arrival_order():
    ids = [f"msg-{i}" for i in range(500)]
    first = {m for m in ids if decide(3, 0.2, "f0", m, "q")}
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    second = {m for m in shuffled if decide(3, 0.2, "f0", m, "q")}
    assert first == second
    assert 60 < len(first) < 140  # about 20 %


def test_simulated_fault_rates_match_probabilities():
    for p in (0.05, 0.3, 0.7):
        hits = sum(decide(11, p, "f", i) for i in range(20000))
        assert abs(hits / 20000 - p) < 0.02
    assert 0 <= fraction(1, "x") < 1
