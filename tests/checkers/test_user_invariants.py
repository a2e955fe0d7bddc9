"""User-defined invariants: declarative rules and Python functions, on literal histories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.checkers import run_checkers
from harness.checkers.base import UNKNOWN
from harness.checkers.user import function_check, parse_rule, rule_check
from harness.errors import PipelineError
from harness.history import b64
from tests.checkers.test_checkers import H

ROOT = Path(__file__).resolve().parents[2]


def msg(mid, typ, payload, cid="c1", cause=None):
    body = json.dumps({"message_id": mid, "type": typ, "correlation_id": cid,
                       "causation_id": cause, "payload": payload}).encode()
    return {"kind": "publish", "queue": "q", "message_id": mid, "correlation_id": cid,
            "type": typ, "producer": "a", "body": b64(body)}


def rule(**node):
    return rule_check(parse_rule(node, where="probe"))


def test_never_catches_a_matching_message_and_passes_others():
    check = rule(never={"type": "payment.authorized", "where": {"risk_level": "high"}})
    ok = H(msg("m1", "payment.authorized", {"risk_level": "low"}))
    bad = H(msg("m1", "payment.authorized", {"risk_level": "low"}),
            msg("m2", "payment.authorized", {"risk_level": "high"}))
    assert check(ok, {}).valid is True
    v = check(bad, {})
    assert v.valid is False and v.counts["violations"] == 1
    assert v.examples["violation"][0]["message_id"] == "m2"


def test_requires_after_in_the_same_correlation_or_by_a_payload_field():
    check = rule(requires={"type": "notification.sent", "where": {"kind": "receipt"},
                           "after": "ledger.posted"})
    good = H(msg("m1", "ledger.posted", {}), msg("m2", "notification.sent", {"kind": "receipt"}))
    early = H(msg("m2", "notification.sent", {"kind": "receipt"}),
              msg("m1", "ledger.posted", {}))
    other = H(msg("m1", "ledger.posted", {}, cid="c2"),
              msg("m2", "notification.sent", {"kind": "receipt"}))
    decline = H(msg("m2", "notification.sent", {"kind": "decline"}))
    assert check(good, {}).valid is True and check(decline, {}).valid is True
    assert check(early, {}).valid is False and check(other, {}).valid is False
    by_id = rule(requires={"type": "b", "after": {"type": "a", "where": {"n": {"gte": 2}}},
                           "by": "id"})
    assert by_id(H(msg("m1", "a", {"id": 1, "n": 2}, cid="x"),
                   msg("m2", "b", {"id": 1}, cid="y")), {}).valid is True
    assert by_id(H(msg("m1", "a", {"id": 1, "n": 1}), msg("m2", "b", {"id": 1})),
                 {}).valid is False


def test_requires_caused_by_walks_the_causation_chain_not_the_history_order():
    check = rule(requires={"type": "notification.sent", "where": {"kind": "receipt"},
                           "caused_by": "ledger.posted"})
    ingress = msg("m0", "payment.authorized", {})
    posted = msg("m1", "ledger.posted", {}, cause="m0")
    # the receipt comes after the posting in history order, but was sent on the authorization
    raced = H(ingress, posted, msg("m2", "notification.sent", {"kind": "receipt"}, cause="m0"))
    chained = H(ingress, posted, msg("m2", "notification.sent", {"kind": "receipt"},
                                     cause="m1"))
    grandchild = H(ingress, posted, msg("m3", "x", {}, cause="m1"),
                   msg("m2", "notification.sent", {"kind": "receipt"}, cause="m3"))
    looped = H(msg("m4", "y", {}, cause="m5"), msg("m5", "y", {}, cause="m4"),
               msg("m2", "notification.sent", {"kind": "receipt"}, cause="m4"))
    assert check(chained, {}).valid is True and check(grandchild, {}).valid is True
    v = check(raced, {})
    assert v.valid is False and v.examples["violation"][0]["not_caused_by"] == "ledger.posted"
    assert check(looped, {}).valid is False  # a cycle ends the walk
    assert rule(requires={"type": "notification.sent", "after": "ledger.posted"})(
        raced, {}).valid is True  # what after: alone judges
    with pytest.raises(PipelineError, match=r"probe\.requires"):
        parse_rule({"requires": {"type": "t", "after": "a", "caused_by": "a"}}, where="probe")


def test_comparisons_lists_and_dotted_paths():
    check = rule(never={"type": "t", "where": {"a.b": {"gt": 5}, "c": ["x", "y"]}})
    assert check(H(msg("m1", "t", {"a": {"b": 6}, "c": "y"})), {}).valid is False
    assert check(H(msg("m1", "t", {"a": {"b": 5}, "c": "y"})), {}).valid is True
    assert check(H(msg("m1", "t", {"a": {"b": 6}, "c": "z"})), {}).valid is True
    assert check(H(msg("m1", "t", {"c": "x"})), {}).valid is True  # missing field: no match


def test_a_history_without_message_bytes_is_unknown():
    check = rule(never={"type": "t"})
    e = {"kind": "publish", "queue": "q", "message_id": "m1", "type": "t", "producer": "a"}
    assert check(H(e), {}).valid == UNKNOWN


def test_bad_rules_are_one_clear_error():
    with pytest.raises(PipelineError, match=r"probe\.never"):
        parse_rule({"never": {"where": {}}}, where="probe")
    with pytest.raises(PipelineError, match=r"probe\.requires"):
        parse_rule({"requires": {"type": "t"}}, where="probe")
    with pytest.raises(PipelineError, match=r"probe\.requires\.caused_by"):
        parse_rule({"requires": {"type": "t", "caused_by": 3}}, where="probe")
    with pytest.raises(PipelineError, match="one comparison"):
        parse_rule({"never": {"type": "t", "where": {"a": {"between": 1}}}}, where="probe")


def test_python_functions_return_verdicts_bools_or_problem_lists(tmp_path):
    src = tmp_path / "inv.py"
    src.write_text(
        "def none_over(events, snapshot):\n"
        "    return [e for e in events if e.get('kind') == 'effect' and e['amount'] > 10]\n"
        "def has_snapshot(events, snapshot):\n"
        "    return snapshot is not None\n"
        "def confused(events, snapshot):\n"
        "    return 42\n")
    big = {"kind": "effect", "key": "k", "applied": True, "amount": 11}
    assert function_check(f"{src}:none_over")(H(big), {}).valid is False
    assert function_check(f"{src}:none_over")(H(), {}).valid is True
    assert function_check(f"{src}:has_snapshot")(H(snapshot=False), {}).valid is False
    assert function_check(f"{src}:confused")(H(), {}).valid == UNKNOWN


def test_user_checkers_run_and_count_like_built_in_ones(tmp_path):
    (tmp_path / "inv.py").write_text("def never_ok(events, snapshot):\n    return False\n")
    exp = tmp_path / "e.yaml"
    exp.write_text(
        f"pipeline: {ROOT / 'examples' / 'payments' / 'pipeline.yaml'}\n"
        "steady-state-hypothesis:\n  probes:\n"
        "    - checker: inv.py:never_ok\n"
        "    - name: no_high\n      never: {type: payment.authorized, where: {risk_level: high}}\n"
        "expect: {valid: false, caught_by: [inv.py:never_ok]}\n")
    loaded = load_experiment(exp)
    assert loaded.checker_names() == ["inv.py:never_ok", "no_high"]
    verdicts = run_checkers(H(), loaded.checker_names(), loaded.checker_options())
    assert verdicts["inv.py:never_ok"].valid is False and verdicts["no_high"].valid is True
    exp.write_text(f"pipeline: {ROOT / 'examples' / 'payments' / 'pipeline.yaml'}\n"
                   "steady-state-hypothesis:\n  probes:\n    - checker: nope.py:f\n")
    with pytest.raises(PipelineError, match=r"probes\[0\].checker.*no such file"):
        load_experiment(exp)


def test_regular_expression_comparisons():
    check = rule(never={"type": "ride.matched",
                        "where": {"driver_id": {"not_matches": "drv-[1-9][0-9][0-9]"}}})
    assert check(H(msg("m1", "ride.matched", {"driver_id": "drv-123"})), {}).valid is True
    for bad in ("drv-0", "drv-1000", "drv-5.21", "drv--57"):
        assert check(H(msg("m1", "ride.matched", {"driver_id": bad})), {}).valid is False, bad


def _bundled(name):
    return function_check(f"{ROOT / 'chaos' / 'invariants.py'}:{name}")


def test_the_bundled_payments_invariants():
    receipt = _bundled("receipts_state_the_amount")
    posted = msg("m1", "ledger.posted", {"payment_id": "p1", "amount_cents": 25000,
                                         "currency": "EUR"})
    right = msg("m2", "notification.sent", {"payment_id": "p1", "kind": "receipt",
                                            "text": "Paid 250.00 EUR"})
    wrong = msg("m2", "notification.sent", {"payment_id": "p1", "kind": "receipt",
                                            "text": "Paid 25100.00 EUR"})
    assert receipt(H(posted, right), {}).valid is True
    assert receipt(H(posted, wrong), {}).valid is False
    codes = _bundled("authorization_codes_identify_payments")
    a1 = msg("m1", "payment.authorized", {"payment_id": "p1", "authorization_code": "00000000"})
    a2 = msg("m2", "payment.authorized", {"payment_id": "p2", "authorization_code": "00000000"})
    a1_again = msg("m3", "payment.authorized", {"payment_id": "p1",
                                                "authorization_code": "00000000"})
    assert codes(H(a1, a1_again), {}).valid is True
    assert codes(H(a1, a2), {}).valid is False


def test_the_bundled_rides_invariants():
    honest = _bundled("eta_source_is_honest")

    def eta(mid, cause, source, seconds=300, zone="z1"):
        e = msg(mid, "ride.eta_estimated", {"ride_id": mid, "pickup_zone": zone,
                                            "eta_source": source, "eta_seconds": seconds})
        body = json.loads(__import__("base64").b64decode(e["body"]))
        body["causation_id"] = cause
        e["body"] = b64(json.dumps(body).encode())
        return e

    fell = {"kind": "fallback", "agent": "eta", "message_id": "in2", "dependency": "eta_model"}
    assert honest(H(eta("o1", "in1", "live"), fell, eta("o2", "in2", "cached")), {}).valid
    assert honest(H(fell, eta("o2", "in2", "live")), {}).valid is False
    assert honest(H(eta("o1", "in1", "cached")), {}).valid is False
    seen = _bundled("cached_eta_is_a_seen_eta")
    dlv = {"kind": "deliver", "agent": "eta", "queue": "eta", "message_id": "in2"}
    assert seen(H(eta("o1", "in1", "live", 300), dlv, eta("o2", "in2", "cached", 300)),
                {}).valid is True
    assert seen(H(dlv, eta("o2", "in2", "cached", 480)), {}).valid is True  # nothing seen yet
    assert seen(H(eta("o1", "in1", "live", 300), dlv, eta("o2", "in2", "cached", 480)),
                {}).valid is False


def test_live_etas_are_the_eta_services_answers():
    check = _bundled("live_etas_are_the_models")
    from harness.pipeline import load_object

    eta_seconds = load_object("examples/rides/eta_http.py:eta_seconds", base=ROOT, where="test")

    def eta(source, seconds):
        return msg("o1", "ride.eta_estimated", {"ride_id": "r1", "driver_id": "drv-123",
                                                "pickup_zone": "zone-01", "eta_source": source,
                                                "eta_seconds": seconds})

    right = eta_seconds("drv-123", "zone-01")
    assert check(H(eta("live", right)), {}).valid is True
    assert check(H(eta("cached", right + 1)), {}).valid is True  # judged by the other rules
    v = check(H(eta("live", right + 1)), {})
    assert v.valid is False and v.examples["violation"][0]["model_says"] == right
