"""The exercised checker: planned faults that never fired make a run vacuous (unknown)."""

from __future__ import annotations

from harness.checkers import exercised, run_checkers
from harness.checkers.base import UNKNOWN
from tests.checkers.test_checkers import H


def note(*ids, bands=None):
    plan = [{"id": i, "fault": i.split(":")[1].split("@")[0], "target": i.split("@")[1]}
            for i in ids]
    return {"kind": "note", "note": "experiment", "experiment": {}, "plan": plan,
            "bands": bands or {}}


def fired(fid, queue="ledger"):
    return {"kind": "fault_start", "fault": fid.split(":")[1].split("@")[0], "fault_id": fid,
            "target": queue}


def dlv(agent, typ="t", v=1):
    return {"kind": "deliver", "agent": agent, "queue": f"q.{agent}", "message_id": "m",
            "type": typ, "schema_version": v}


def test_every_planned_fault_fired_is_valid_and_reported_per_hop():
    evs = [note("f0.0:duplicate@ledger"), dlv("ledger"), dlv("ledger", v=2),
           fired("f0.0:duplicate@ledger", "q.ledger")]
    v = exercised.check(H(*evs), {})
    assert v.valid is True and v.counts["planned"] == v.counts["fired"] == 1
    rep = exercised.report(H(*evs))
    assert rep["types"] == {"ledger": {"t@1": 1, "t@2": 1}}
    assert rep["faults"] == {"ledger": {"duplicate": 1}}  # the queue is named by its agent


def test_a_fault_that_never_fired_makes_the_run_vacuous_not_valid():
    evs = [note("f0.0:duplicate@ledger", "f1.0:poison@fraud"), fired("f0.0:duplicate@ledger")]
    v = exercised.check(H(*evs), {})
    assert v.valid == UNKNOWN and "f1.0:poison@fraud" in v.error
    assert v.examples["vacuous"][0]["fault"] == "poison"
    assert exercised.check(H(*evs), {"allow_unfired": ["poison"]}).valid is True


def test_it_always_runs_and_a_vacuous_run_is_never_valid_overall():
    evs = [note("f0.0:duplicate@ledger")]
    verdicts = run_checkers(H(*evs), ["history"])
    assert "exercised" in verdicts and verdicts["exercised"].valid == UNKNOWN


def test_unexercised_bands_are_reported():
    evs = [note(bands={"amount": {"1..9": 3, "10..99": 0}})]
    v = exercised.check(H(*evs), {})
    assert v.valid is True and v.counts["unexercised_bands"] == 1


def test_a_history_without_a_plan_is_valid():
    assert exercised.check(H(), {}).valid is True
