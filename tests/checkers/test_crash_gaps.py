"""Crash gaps on literal histories: an agent process writes an ``intent`` line before it commits
an effect or publishes, and the result line after. A SIGKILL between the two (its process seen
dead by the supervisor) is explained, never a failure; the same gap in a process not known to
have died is unknown; an effect with no intent at all is still a failure, and a real bug hidden
behind a crash gap (a fresh key per try, an outcome never committed) is still caught."""

from __future__ import annotations

from harness.checkers import CHECKERS
from harness.checkers.base import UNKNOWN
from tests.checkers.test_checkers import H, eff, ing, out

LEDGER = "ledger:4242"  # the process that dies
DEATH = {"kind": "agent_crash", "agent": "ledger", "pid": 4242, "exit_code": -9, "supervisor": True}


def intent(cid, key, *, process=LEDGER, agent="ledger", effect="ledger.post", outcome=None, **kw):
    e = {
        "kind": "intent",
        "of": "effect",
        "process": process,
        "agent": agent,
        "effect": effect,
        "key": key,
        "correlation_id": cid,
        "idempotency_key": f"i-{cid}",
        **kw,
    }
    if outcome:
        e["outcome"] = outcome
    return e


def publish_intent(mid, cid, cause, *, process=LEDGER):
    return {
        "kind": "intent",
        "of": "publish",
        "process": process,
        "agent": "ledger",
        "producer": "ledger",
        "message_id": mid,
        "correlation_id": cid,
        "causation_id": cause,
        "type": "ledger.posted",
        "schema_version": 1,
    }


def with_snapshot(h, *stored):
    """Replace H's empty snapshot with one holding ``stored`` (key, agent, effect, cid)."""
    for e in h:
        if e["kind"] == "snapshot":
            e["effects"] = [
                {"key": k, "agent": a, "effect": n, "correlation_id": c} for k, a, n, c in stored
            ]
    return h


def test_effect_committed_then_process_killed_is_applied_once_not_unrecorded():
    h = with_snapshot(
        H(
            ing("a"), intent("a", "k1"), DEATH, eff("a", "k1", applied=False)
        ),  # the retry: the store had it
        ("k1", "ledger", "ledger.post", "a"),
    )
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is True, v
    assert v.counts["crash_unrecorded"] == 1 and v.counts["unrecorded"] == 0
    assert v.counts["applied"] == 1


def test_same_gap_without_the_process_death_is_unknown():
    h = with_snapshot(H(ing("a"), intent("a", "k1")), ("k1", "ledger", "ledger.post", "a"))
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid == UNKNOWN and v.counts["undecided"] == 1 and "cannot decide" in v.error


def test_stored_effect_without_intent_is_still_unrecorded():
    h = with_snapshot(
        H(ing("a"), intent("a", "k1"), DEATH),
        ("k1", "ledger", "ledger.post", "a"),
        ("ghost", "ledger", "x", "a"),
    )
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is False and v.counts["unrecorded"] == 1 and v.counts["crash_unrecorded"] == 1


def test_fresh_key_per_try_behind_a_crash_gap_is_still_a_duplicate():
    """The killed try committed k1 unrecorded; the retry drew a fresh key k2 and applied it."""
    h = with_snapshot(
        H(ing("a"), intent("a", "k1"), DEATH, eff("a", "k2")),
        ("k1", "ledger", "ledger.post", "a"),
        ("k2", "ledger", "ledger.post", "a"),
    )
    v = CHECKERS["exactly_once"](h, {})
    assert v.valid is False and v.counts["duplicate_effect"] == 1


def test_business_key_duplicate_behind_a_crash_gap_is_caught():
    h = with_snapshot(
        H(
            ing("a"),
            intent("a", "k1", data={"payment_id": "p1"}),
            DEATH,
            ing("b"),
            {**eff("b", "k2"), "data": {"payment_id": "p1"}},
        ),
        ("k1", "ledger", "ledger.post", "a"),
        ("k2", "ledger", "ledger.post", "b"),
    )
    v = CHECKERS["exactly_once"](h, {"unique": {"ledger.post": "payment_id"}})
    assert v.valid is False and v.counts["duplicate_business_key"] == 1


def test_intent_not_committed_is_nothing():
    h = H(ing("a"), intent("a", "k1"), DEATH, eff("a", "k1"), out("a"))
    v = CHECKERS["exactly_once"](with_snapshot(h, ("k1", "ledger", "ledger.post", "a")), {})
    assert v.valid is True and v.counts["crash_unrecorded"] == 0


OUTCOME_KEY = "o-a"


def _outcome_cut(*, dead=True, stored=True, snapshot=True):
    process = "orchestrator:77"
    events = [
        ing("a"),
        intent(
            "a",
            OUTCOME_KEY,
            process=process,
            agent="orchestrator",
            effect="outcome:completed",
            outcome="completed",
        ),
    ]
    if dead:
        events.append({**DEATH, "agent": "orchestrator", "pid": 77})
    h = H(*events, snapshot=snapshot)
    if stored and snapshot:
        with_snapshot(h, (OUTCOME_KEY, "orchestrator", "outcome:completed", "a"))
    return h


def test_outcome_committed_then_killed_is_read_back_from_the_snapshot():
    h = _outcome_cut()
    v = CHECKERS["no_loss"](h, {})
    assert v.valid is True, v
    assert v.counts["completed"] == 1 and v.counts["crash_recovered"] == 1
    assert CHECKERS["outcomes"](h, {}).counts["matched"] == 1
    assert CHECKERS["exactly_once"](h, {}).valid is True


def test_outcome_cut_without_snapshot_is_indeterminate():
    v = CHECKERS["no_loss"](_outcome_cut(snapshot=False), {})
    assert v.valid == UNKNOWN and v.counts["indeterminate"] == 1
    assert "snapshot" in v.examples["indeterminate"][0]["why"]


def test_outcome_cut_in_a_live_process_is_indeterminate():
    v = CHECKERS["no_loss"](_outcome_cut(dead=False), {})
    assert v.valid == UNKNOWN and v.counts["indeterminate"] == 1


def test_outcome_intent_never_committed_is_lost():
    v = CHECKERS["no_loss"](_outcome_cut(stored=False), {})
    assert v.valid is False and v.counts["lost"] == 1


def test_publish_cut_by_a_kill_is_a_known_message():
    """ledger published m2 and died before recording it; notification got m2 and went on."""
    base = [
        ing("a"),
        publish_intent("m2", "a", "m-a"),
        DEATH,
        {
            "kind": "deliver",
            "agent": "notification",
            "queue": "n",
            "message_id": "m2",
            "correlation_id": "a",
            "causation_id": "m-a",
        },
        {
            "kind": "publish",
            "queue": "o",
            "message_id": "m3",
            "correlation_id": "a",
            "causation_id": "m2",
            "producer": "notification",
            "type": "notification.sent",
            "schema_version": 1,
        },
    ]
    v = CHECKERS["trace"](H(*base), {})
    assert v.valid is True, v
    assert v.counts["crash_unrecorded"] == 1
    without = CHECKERS["trace"](H(*[e for e in base if e["kind"] != "intent"]), {})
    assert without.valid is False
    assert without.counts["unknown_delivery"] == 1 and without.counts["gap"] == 1


def test_publish_intent_with_a_broken_lineage_is_still_judged():
    bad = publish_intent("m2", "a", "nowhere")
    v = CHECKERS["trace"](H(ing("a"), bad, DEATH), {})
    assert v.valid is False and v.counts["gap"] == 1
