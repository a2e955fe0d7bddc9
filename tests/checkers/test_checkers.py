"""Checkers on literal histories (Jepsen's checker_test style)."""

from __future__ import annotations

import io
import json

import pytest

from harness.checkers import CHECKERS, overall, run_checkers
from harness.checkers.base import UNKNOWN, Verdict, check_safe, compose, merge_valid
from harness.history import b64, read_history

REG = "contracts"


def H(*events, start=True, end=True, snapshot=True):
    """A history: run_start, the events, a balanced snapshot, run_end; index and time added."""
    out = []
    evs = list(events)
    if start:
        evs.insert(0, {"kind": "run_start", "registry": REG})
    if snapshot:
        evs.append({"kind": "snapshot", "ledger": {"debits": 0, "credits": 0, "balanced": True},
                    "effects": []})
    if end:
        evs.append({"kind": "run_end"})
    for i, e in enumerate(evs):
        out.append({"index": i, "time": i * 0.01, **e})
    return out


def ing(cid, expect="completed", **kw):
    return {"kind": "ingress", "correlation_id": cid, "message_id": f"m-{cid}", "valid": True,
            "expect": expect, **kw}


def out(cid, outcome="completed"):
    return {"kind": "outcome", "correlation_id": cid, "outcome": outcome}


def dl(cid, reason="schema_invalid", body=b"x", **kw):
    return {"kind": "dead_letter", "correlation_id": cid, "queue": "fraud", "reason": reason,
            "body": b64(body), **kw}


def eff(cid, key, applied=True, agent="ledger", effect="ledger.post"):
    return {"kind": "effect", "correlation_id": cid, "key": key, "applied": applied,
            "agent": agent, "effect": effect}


def pub(mid, cid, cause, producer="fraud", body=None, typ="payment.risk_assessed", v=1):
    e = {"kind": "publish", "queue": "q", "message_id": mid, "correlation_id": cid,
         "causation_id": cause, "producer": producer, "type": typ, "schema_version": v}
    if body is not None:
        e["body"] = b64(json.dumps(body).encode())
    return e


# -- composition ---------------------------------------------------------------------------------
def test_merge_ranks_false_over_unknown_over_true():
    assert merge_valid([True, True]) is True
    assert merge_valid([True, UNKNOWN]) == UNKNOWN
    assert merge_valid([UNKNOWN, False, True]) is False
    assert merge_valid([]) is True


def test_a_checker_that_raises_yields_unknown():
    def boom(history, opts):
        raise RuntimeError("nope")

    v = check_safe("boom", boom, [], {})
    assert v.valid == UNKNOWN and "nope" in v.error and v.checker == "boom"
    res = compose({"boom": boom, "ok": lambda h, o: Verdict(True)}, [])
    assert overall(res) == UNKNOWN


def test_verdict_is_frozen():
    v = Verdict(True, {"a": 1})
    with pytest.raises(AttributeError):
        v.valid = False  # type: ignore[misc]


# -- no_loss -------------------------------------------------------------------------------------
def test_no_loss_valid_and_counts():
    h = H(ing("a"), ing("b", "declined"), ing("c", "dead_lettered"), out("a"),
          out("b", "declined"), dl("c"))
    v = CHECKERS["no_loss"](h, {})
    assert v.valid is True
    assert v.counts["completed"] == 1 and v.counts["declined"] == 1
    assert v.counts["dead_lettered"] == 1 and v.counts["attempted"] == 3


def test_no_loss_lost_conflicting_unexpected():
    h = H(ing("a"), ing("b"), out("b"), dl("b"), out("zzz"))
    v = CHECKERS["no_loss"](h, {})
    assert v.valid is False
    assert v.counts["lost"] == 1 and v.counts["conflicting"] == 1 and v.counts["unexpected"] == 1
    assert v.examples["lost"][0]["correlation_id"] == "a"


def test_no_loss_dead_letter_without_reason_is_not_terminal():
    h = H(ing("a"), {**dl("a"), "reason": ""})
    assert CHECKERS["no_loss"](h, {}).valid is False


def test_no_loss_unfinished_history_is_unknown_not_valid():
    h = H(ing("a"), ing("b"), out("a"), end=False)
    v = CHECKERS["no_loss"](h, {})
    assert v.valid == UNKNOWN and v.counts["indeterminate"] == 1


def test_no_loss_anonymous_dead_letters_make_fates_indeterminate():
    h = H(ing("a"), {**dl(None)})
    assert CHECKERS["no_loss"](h, {}).valid == UNKNOWN


def test_duplicate_dead_letters_are_one_fate():
    h = H(ing("a", "dead_lettered"), dl("a"), dl("a"))
    assert CHECKERS["no_loss"](h, {}).valid is True


# -- outcomes ------------------------------------------------------------------------------------
def test_outcomes_catches_a_high_risk_payment_that_completed():
    h = H(ing("a", "declined"), out("a", "completed"), ing("b"), out("b"))
    v = CHECKERS["outcomes"](h, {})
    assert v.valid is False and v.counts["mismatched"] == 1
    assert "expected_declined_got_completed" in v.examples


def test_outcomes_excuses_fate_changing_faults():
    h = H(ing("a"), {"kind": "fault_start", "fault": "poison", "correlation_id": "a"},
          dl("a", "not_json"))
    assert CHECKERS["outcomes"](h, {}).valid is True


# -- exactly_once --------------------------------------------------------------------------------
def test_exactly_once_valid_with_skipped_duplicates():
    h = H(ing("a"), eff("a", "k1"), eff("a", "k1", applied=False))
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is True and v.counts["skipped_duplicates"] == 1


def test_exactly_once_duplicate_key_and_fresh_key_per_try():
    h = H(ing("a"), eff("a", "k1"), eff("a", "k1"), ing("b"), eff("b", "k2"), eff("b", "k3"))
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is False
    assert v.counts["duplicate_key"] == 1 and v.counts["duplicate_effect"] == 1


def test_exactly_once_unbalanced_ledger_and_unrecorded_effects():
    h = H(ing("a"), snapshot=False)
    h.insert(-1, {"index": 99, "time": 1, "kind": "snapshot",
                  "ledger": {"debits": 10, "credits": 5, "balanced": False},
                  "effects": [{"key": "ghost", "agent": "ledger", "effect": "x",
                               "correlation_id": "a"}]})
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is False and v.counts["unbalanced"] == 1 and v.counts["unrecorded"] == 1


def test_exactly_once_without_snapshot_is_unknown():
    assert CHECKERS["exactly_once"](H(ing("a"), snapshot=False), {}).valid == UNKNOWN


# -- trace ---------------------------------------------------------------------------------------
def test_trace_valid_chain():
    h = H(ing("a"), pub("m1", "a", "m-a"), pub("m2", "a", "m1", producer="authorization"),
          {"kind": "deliver", "queue": "x", "message_id": "m2", "agent": "ledger"})
    assert CHECKERS["trace"](h, {}).valid is True


def test_trace_problems():
    h = H(ing("a"), ing("b"),
          pub("m1", "new-cid", "m-a"),            # correlation id dropped
          pub("m2", "a", "nowhere"),              # gap
          pub("m3", "a", None),                   # no causation
          pub("m4", "a", "m-b"),                  # cause in another correlation
          {"kind": "deliver", "queue": "x", "message_id": "ghost", "agent": "ledger"},
          eff("zzz", "k"))
    v = CHECKERS["trace"](h, {})
    assert v.valid is False
    for p in ("orphan_correlation", "gap", "missing_causation", "correlation_changed",
              "unknown_delivery", "orphan_effect"):
        assert v.counts[p] == 1, p


# -- wire ----------------------------------------------------------------------------------------
def _env(payload, typ="payment.risk_assessed", v=1):
    return {"type": typ, "schema_version": v, "payload": payload}


GOOD = {"payment_id": "pay-1", "amount_cents": 100, "currency": "EUR", "customer_id": "c",
        "merchant_id": "m", "risk_level": "low"}


def test_wire_validates_bodies_against_declared_version():
    bad = {k: v for k, v in GOOD.items() if k != "risk_level"} | {"risk_score": 0.9}
    h = H(ing("a"), pub("m1", "a", "m-a", body=_env(GOOD)), pub("m2", "a", "m-a", body=_env(bad)),
          pub("m3", "a", "m-a", body=_env(GOOD, v=9)))
    v = CHECKERS["wire"](h, {})
    assert v.valid is False
    assert v.counts["schema_invalid"] == 1 and v.counts["undeclared_version"] == 1
    assert "risk_level" in v.examples["schema_invalid"][0]["detail"]


def test_wire_flags_emitted_invalid_and_consumer_rejections_but_not_workload():
    h = H(ing("a"), ing("b", "dead_lettered"), pub("m1", "a", "m-a"),
          dl("a", "emitted_invalid"), {**dl("a", "unknown_version"), "message_id": "m1"},
          {**dl("b", "schema_invalid"), "message_id": "m-b"})
    v = CHECKERS["wire"](h, {})
    assert v.valid is False
    assert v.counts["emitted_invalid"] == 1 and v.counts["rejected_by_consumer"] == 1


def test_wire_excuses_drifted_messages():
    h = H(ing("a"), pub("m1", "a", "m-a"),
          {"kind": "fault_start", "fault": "drift", "message_id": "m1", "correlation_id": "a"},
          {**dl("a", "unknown_version"), "message_id": "m1"})
    assert CHECKERS["wire"](h, {}).valid is True


def test_wire_without_registry_is_unknown_when_bodies_exist():
    h = H(ing("a"), pub("m1", "a", "m-a", body=_env(GOOD)), start=False)
    h.insert(0, {"index": -1, "time": 0, "kind": "run_start"})
    assert CHECKERS["wire"](h, {}).valid == "unknown"


# -- dead letters --------------------------------------------------------------------------------
def test_dead_letters_quality():
    h = H(ing("a", "dead_lettered", body=b64(b"orig")), dl("a", body=b"orig"),
          ing("b", body=b64(b"orig-b")), dl("b", body=b"tampered"),
          {"kind": "dead_letter", "queue": "q", "reason": "", "body": b64(b"z")})
    v = CHECKERS["dead_letters"](h, {})
    assert v.valid is False
    assert v.counts["altered_body"] == 1 and v.counts["missing_reason"] == 1
    assert v.counts["missing_correlation_id"] == 1


# -- latency -------------------------------------------------------------------------------------
def ack(agent, ms, fallback=None):
    return {"kind": "ack", "queue": agent, "agent": agent, "latency_ms": ms, "fallback": fallback}


def test_latency_budgets_and_percentiles():
    h = H(*[ack("fraud", 10) for _ in range(98)], ack("fraud", 250), ack("fraud", 300))
    v = CHECKERS["latency"](h, {"budgets": {"fraud": {"p99_ms": 200}}})
    assert v.valid is False and v.counts["agents"]["fraud"]["p50_ms"] == 10
    assert v.examples["budget"][0]["metric"] == "p99_ms"
    assert CHECKERS["latency"](h, {"budgets": {"fraud": {"p95_ms": 200}}}).valid is True


def test_latency_end_to_end_and_fallback_rate():
    h = H(ing("a"), *[ack("eta", 1)] * 3, {"kind": "fallback", "agent": "eta"}, out("a"))
    v = CHECKERS["latency"](h, {"fallback_rate": 0.2, "budgets": {"end_to_end": {"p99_ms": 1}}})
    assert v.valid is False and v.counts["fallback_rate"] > 0.2
    assert v.counts["end_to_end"]["n"] == 1


def test_latency_coupling_to_a_slow_dependency_with_fallback():
    start = {"kind": "fault_start", "fault": "slow_dependency", "fault_id": "f1",
             "dependency": "eta_service", "params": {"latency_ms": 400}}
    end = {"kind": "fault_end", "fault": "slow_dependency", "fault_id": "f1"}
    coupled = H(start, *[ack("dispatch", 420)] * 5, end)
    ok = H(start, *[ack("dispatch", 60)] * 5, end)
    opts = {"fallbacks": {"dispatch": ["eta_service"]}}
    assert CHECKERS["latency"](coupled, opts).valid is False
    assert CHECKERS["latency"](ok, opts).valid is True


# -- the history itself --------------------------------------------------------------------------
def _text(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def test_truncated_history_is_never_valid():
    text = _text(H(ing("a"), out("a")))
    cut = text[: len(text) - 7]
    hist = read_history(io.StringIO(cut))
    verdicts = run_checkers(hist)
    assert overall(verdicts) != True  # noqa: E712
    assert verdicts["history"].valid == UNKNOWN


def test_hand_edited_history_is_never_valid():
    events = H(ing("a"), out("a"))
    del events[2]  # a line removed
    assert overall(run_checkers(events)) is not True
    events = H(ing("a"), out("a"))
    events[1]["correlation_id"] = 42
    assert overall(run_checkers(events)) is not True


def test_complete_history_is_valid():
    assert overall(run_checkers(H(ing("a"), out("a")))) is True


def test_wire_parallel_path_gives_the_same_verdict():
    bad = {k: v for k, v in GOOD.items() if k != "risk_level"}
    pubs = [pub(f"m{i}", "a", "m-a", body=_env(bad if i % 7 == 0 else GOOD)) for i in range(40)]
    h = H(ing("a"), *pubs)
    serial = CHECKERS["wire"](h, {})
    parallel = CHECKERS["wire"](h, {"parallel_threshold": 1, "workers": 2})
    assert serial.to_dict() == parallel.to_dict()
    assert serial.counts["schema_invalid"] == 6
