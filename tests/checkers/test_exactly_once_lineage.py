"""exactly_once by idempotency lineage and by declared business keys (literal histories)."""

from __future__ import annotations

from harness.checkers import exactly_once
from tests.checkers.test_checkers import H


def eff(cid, key, idem, *, agent="ledger", effect="ledger.post", data=None, applied=True):
    return {"kind": "effect", "correlation_id": cid, "key": key, "applied": applied,
            "agent": agent, "effect": effect, "idempotency_key": idem, "data": data}


UNIQUE = {"unique": {"ledger.post": ["payment_id"]}}


def test_a_resubmission_deduplicated_by_its_idempotency_key_is_valid():
    v = exactly_once.check(H(eff("c1", "k1", "i1", data={"payment_id": "p1"}),
                             eff("c1", "k1", "i1", applied=False),
                             eff("c1~retry", "k1", "i1", applied=False)), UNIQUE)
    assert v.valid is True and v.counts["skipped_duplicates"] == 2


def test_keying_on_the_message_id_is_caught_by_the_lineage():
    # same correlation, same idempotency key, two keys (one per message id)
    v = exactly_once.check(H(eff("c1", "k-m1", "i1"), eff("c1", "k-m2", "i1")), {})
    assert v.valid is False and v.counts["duplicate_lineage"] == 1
    assert v.examples["duplicate_lineage"][0]["keys"] == ["k-m1", "k-m2"]


def test_a_client_retry_under_a_new_correlation_is_caught_by_lineage_and_business_key():
    evs = [eff("c1", "k-c1", "i1", data={"payment_id": "p1"}),
           eff("c1~retry", "k-c2", "i1", data={"payment_id": "p1"})]
    v = exactly_once.check(H(*evs), UNIQUE)
    assert v.valid is False
    assert v.counts["duplicate_effect"] == 0  # per correlation it looks fine
    assert v.counts["duplicate_lineage"] == 1 and v.counts["duplicate_business_key"] == 1
    assert v.examples["duplicate_business_key"][0]["key"] == {"payment_id": "p1"}


def test_the_business_key_catches_a_second_request_with_a_fresh_idempotency_key():
    evs = [eff("c1", "k1", "i1", data={"payment_id": "p1", "amount_cents": 5}),
           eff("c2", "k2", "i2", data={"payment_id": "p1", "amount_cents": 5}),
           eff("c3", "k3", "i3", data={"payment_id": "p2", "amount_cents": 5})]
    assert exactly_once.check(H(*evs), {}).valid is True  # no key declared: two requests
    v = exactly_once.check(H(*evs), UNIQUE)
    assert v.valid is False and v.counts["duplicate_business_key"] == 1
    # declared in the pipeline's short form too
    assert exactly_once.check(H(*evs), {"unique": {"ledger.post": "payment_id"}}).valid is False


def test_an_effect_without_its_business_key_field_is_caught():
    v = exactly_once.check(H(eff("c1", "k1", "i1", data={"amount_cents": 5})), UNIQUE)
    assert v.valid is False and v.counts["no_business_key"] == 1


def test_outcomes_are_per_correlation_and_exempt_from_the_lineage():
    evs = [eff("c1", "o1", "i1", agent="orchestrator", effect="outcome:completed"),
           eff("c1~retry", "o2", "i1", agent="orchestrator", effect="outcome:completed")]
    assert exactly_once.check(H(*evs), {}).valid is True
