"""The causal-graph checker on literal histories."""

from __future__ import annotations

from harness.checkers import causal
from tests.checkers.test_checkers import H, ing


def dlv(agent, mid, cid="c1", cause=None):
    return {"kind": "deliver", "agent": agent, "queue": agent, "message_id": mid,
            "correlation_id": cid, "causation_id": cause}


def ack(agent, mid, cid="c1"):
    return {"kind": "ack", "agent": agent, "queue": agent, "message_id": mid,
            "correlation_id": cid}


def pub(mid, cause, producer, cid="c1", typ="t"):
    return {"kind": "publish", "queue": "q", "message_id": mid, "correlation_id": cid,
            "causation_id": cause, "producer": producer, "type": typ}


def eff(agent, mid, cid="c1", cause=None):
    return {"kind": "effect", "agent": agent, "effect": "e", "key": "k", "applied": True,
            "message_id": mid, "correlation_id": cid, "causation_id": cause}


def chain():
    """workload -> m0 -> fraud publishes m1 -> auth publishes m2 and applies an effect."""
    return [ing("c1"), pub("m0", None, "workload"), dlv("fraud", "m0"), pub("m1", "m0", "fraud"),
            ack("fraud", "m0"), dlv("auth", "m1", cause="m0"), eff("auth", "m1", cause="m0"),
            pub("m2", "m1", "auth"), ack("auth", "m1")]


def problems(v):
    return {k for k in causal.PROBLEMS if v.counts[k]}


def test_a_real_chain_is_valid():
    v = causal.check(H(*chain()), {})
    assert v.valid is True and problems(v) == set()
    assert v.counts["published"] == 2 and v.counts["effects"] == 1


def test_a_cause_the_producer_never_consumed_is_caught():
    # auth names m0 (its input's cause, which fraud consumed): trace accepts it, causal does not
    evs = chain()
    evs[7] = pub("m2", "m0", "auth")
    v = causal.check(H(*evs), {})
    assert v.valid is False and problems(v) == {"cause_not_delivered"}
    assert v.examples["cause_not_delivered"][0]["producer"] == "auth"


def test_a_cause_delivered_only_after_the_publish_is_caught():
    evs = [ing("c1"), pub("m0", None, "workload"), pub("m1", "m0", "fraud"),
           dlv("fraud", "m0"), ack("fraud", "m0")]
    assert problems(causal.check(H(*evs), {})) == {"cause_not_delivered"}


def test_publishing_after_the_ack_is_caught_unless_turned_off():
    evs = [ing("c1"), pub("m0", None, "workload"), dlv("fraud", "m0"), ack("fraud", "m0"),
           pub("m1", "m0", "fraud")]
    assert problems(causal.check(H(*evs), {})) == {"published_after_settle"}
    assert causal.check(H(*evs), {"require_open": False}).valid is True


def test_a_redelivery_reopens_the_delivery():
    evs = [ing("c1"), pub("m0", None, "workload"), dlv("fraud", "m0"), ack("fraud", "m0"),
           dlv("fraud", "m0"), pub("m1", "m0", "fraud"), ack("fraud", "m0")]
    assert causal.check(H(*evs), {}).valid is True


def test_a_reused_message_id_and_a_cycle_are_caught():
    evs = [*chain(), dlv("ledger", "m2", cause="m1"), pub("m1", "m2", "ledger"),
           ack("ledger", "m2")]
    v = causal.check(H(*evs), {})
    assert "id_reused" in problems(v)
    # a two-node ring made by ids that name each other
    ring = [dlv("a", "x"), pub("y", "x", "a"), dlv("b", "y"), pub("x", "y", "b"),
            ack("a", "x"), ack("b", "y")]
    v = causal.check(H(*ring), {})
    assert v.valid is False and v.counts["cycle"] == 1
    assert sorted(v.examples["cycle"][0]["messages"]) == ["x", "y"]


def test_a_self_caused_message_is_a_cycle():
    evs = [dlv("a", "x"), pub("x", "x", "a"), ack("a", "x")]
    assert "cycle" in problems(causal.check(H(*evs), {}))


def test_effects_must_belong_to_an_open_delivery_of_their_message():
    base = chain()[:6]
    cases = {
        "effect_without_delivery": [*base, eff("ledger", "m1", cause="m0")],
        "effect_outside_delivery": [*base, ack("auth", "m1"), eff("auth", "m1", cause="m0")],
        "effect_correlation_mismatch": [*base, eff("auth", "m1", cid="c2", cause="m0")],
        "effect_cause_mismatch": [*base, eff("auth", "m1", cause="zz")],
    }
    for problem, evs in cases.items():
        v = causal.check(H(*evs), {})
        assert v.valid is False and problems(v) == {problem}, (problem, v.counts)


def test_a_long_chain_is_checked_in_one_linear_walk():
    n = 20000
    evs = [dlv("a", "m0")]
    for i in range(1, n):
        evs += [pub(f"m{i}", f"m{i - 1}", "a"), dlv("a", f"m{i}")]
    v = causal.check(H(*evs), {})
    assert v.valid is True and v.counts["published"] == n - 1
