"""authorization reads payment.risk_assessed from fraud: above all, ``risk_level``."""

from __future__ import annotations

from pact import match
from payments_pact_bodies import payment_fields


def test_authorization_declines_a_high_risk_payment(message_pact, agent):
    authorization, params = agent("authorization")
    pact = message_pact(authorization, provider="fraud", params=params)
    pact.expect(
        "a high-risk assessment",
        message="payment.risk_assessed@1",
        state="a high-risk payment was accepted",
        params={"amount_cents": 900_000},
        body={**payment_fields(900_000), "risk_level": "high"},
    )
    [result] = pact.verify()
    assert [e.type for e in result.emitted] == ["payment.declined"]


def test_authorization_approves_a_low_risk_payment(message_pact, agent):
    authorization, params = agent("authorization")
    pact = message_pact(authorization, provider="fraud", params=params)
    pact.expect(
        "a low-risk assessment",
        message="payment.risk_assessed@1",
        state="a low-risk payment was accepted",
        body={**payment_fields(), "risk_level": match.regex("low", regex=r"^(low|medium)$")},
    )
    [result] = pact.verify()
    assert [e.type for e in result.emitted] == ["payment.authorized"]
