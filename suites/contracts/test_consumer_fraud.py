"""fraud reads payment.accepted from the orchestrator."""

from __future__ import annotations

from pact import match
from payments_pact_bodies import payment_fields


def test_fraud_assesses_an_accepted_payment(message_pact, agent):
    fraud, params = agent("fraud")
    pact = message_pact(fraud, provider="orchestrator", params=params)
    pact.expect(
        "an accepted payment",
        message="payment.accepted@1",
        state="a payment was requested",
        body={**payment_fields(), "card_last4": match.regex("4242", regex=r"^[0-9]{4}$"),
              "memo": match.str("rent")},
    )
    [result] = pact.verify()
    assert [e.type for e in result.emitted] == ["payment.risk_assessed"]
