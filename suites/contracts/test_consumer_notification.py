"""notification reads payment.declined from authorization and ledger.posted from ledger."""

from __future__ import annotations

from pact import match
from payments_pact_bodies import payment_fields


def test_notification_tells_the_customer_of_a_decline(message_pact, agent):
    notification, params = agent("notification")
    pact = message_pact(notification, provider="authorization", params=params)
    pact.expect(
        "a declined payment",
        message="payment.declined@1",
        state="a high-risk payment was assessed",
        body={**payment_fields(), "reason": match.regex("high_risk",
                                                        regex=r"^(high_risk|limit_exceeded)$")},
    )
    [result] = pact.verify()
    assert result.emitted[0].payload["kind"] == "decline"


def test_notification_sends_a_receipt_for_a_posted_payment(message_pact, agent):
    notification, params = agent("notification")
    pact = message_pact(notification, provider="ledger", params=params)
    pact.expect(
        "a payment posted to the ledger",
        message="ledger.posted@1",
        state="a payment was authorized",
        body={**payment_fields(), "entries": match.int(2)},
    )
    [result] = pact.verify()
    assert result.emitted[0].payload["kind"] == "receipt"
