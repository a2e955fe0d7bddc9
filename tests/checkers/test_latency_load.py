"""The latency checker's load allowance: budgets plus K x the run's measured event-loop lag
(capped), read from the ``load`` note. A breach beyond what the load explains is still caught,
and with no note (or no allowance) the budgets are exactly as declared."""

from __future__ import annotations

import asyncio

from harness.chaos.load_probe import LoadProbe
from harness.checkers import CHECKERS
from tests.checkers.test_checkers import H


def _ack(ms, agent="fraud"):
    return {"kind": "ack", "queue": agent, "agent": agent, "latency_ms": ms}


def _load(lag_p99_ms):
    return {"kind": "note", "note": "load", "loop_lag_p99_ms": lag_p99_ms, "samples": 100}


BUDGET = {"budgets": {"fraud": {"p99_ms": 200}}}


def test_a_busy_run_gets_k_times_its_loop_lag():
    h = H(*[_ack(10) for _ in range(50)], _ack(450), _load(100))
    v = CHECKERS["latency"](h, {**BUDGET, "load_allowance": 3})
    assert v.valid is True, v
    assert v.counts["load_allowance_ms"] == 300 and v.counts["loop_lag_p99_ms"] == 100
    # the same history judged without the allowance breaches its budget
    assert CHECKERS["latency"](h, BUDGET).valid is False


def test_a_breach_beyond_the_allowance_is_caught():
    h = H(*[_ack(10) for _ in range(50)], _ack(650), _load(100))
    v = CHECKERS["latency"](h, {**BUDGET, "load_allowance": 3})
    assert v.valid is False and v.examples["budget"][0]["budget"] == 500


def test_the_allowance_is_capped():
    """An extremely loaded run cannot hide a multi-second stall."""
    h = H(_ack(2500), _load(5000))
    v = CHECKERS["latency"](h, {**BUDGET, "load_allowance": 3})
    assert v.counts["load_allowance_ms"] == 1000 and v.valid is False
    capped = CHECKERS["latency"](h, {**BUDGET, "load_allowance": 3, "load_allowance_max_ms": 50})
    assert capped.examples["budget"][0]["budget"] == 250


def test_no_load_note_means_no_allowance():
    h = H(_ack(250))
    v = CHECKERS["latency"](h, {**BUDGET, "load_allowance": 3})
    assert v.valid is False and v.counts["load_allowance_ms"] == 0.0


def test_end_to_end_budget_gets_the_allowance_too():
    h = H(
        {"kind": "ingress", "correlation_id": "a", "message_id": "m", "valid": True},
        {"kind": "outcome", "correlation_id": "a", "outcome": "completed"},
        _load(10),
    )
    h[2]["time"] = h[1]["time"] + 0.025  # 25 ms end to end
    opts = {"budgets": {"end_to_end": {"p99_ms": 1}}}
    assert CHECKERS["latency"](h, opts).valid is False
    assert CHECKERS["latency"](h, {**opts, "load_allowance": 3}).valid is True


def test_the_probe_measures_a_stalled_loop():
    """The probe's lag is real: a 150 ms stall of the loop (a CPU hog in this process) shows."""

    async def run():
        probe = LoadProbe(interval=0.005)
        probe.start()
        await asyncio.sleep(0.03)
        import time

        time.sleep(0.15)  # the stall: nothing on the loop runs meanwhile
        await asyncio.sleep(0.03)
        return await probe.stop()

    stats = asyncio.run(run())
    assert stats["samples"] >= 3
    assert stats["loop_lag_max_ms"] >= 100
