"""ledger reads payment.authorized from authorization."""

from __future__ import annotations

from pact import match
from payments_pact_bodies import payment_fields


def test_ledger_posts_an_authorized_payment(message_pact, agent):
    ledger, params = agent("ledger")
    pact = message_pact(ledger, provider="authorization", params=params)
    pact.expect(
        "an authorized payment",
        message="payment.authorized@1",
        state="a low-risk payment was assessed",
        body={**payment_fields(),
              "authorization_code": match.regex("AB12CD34", regex=r"^[A-Z0-9]{8}$")},
    )
    [result] = pact.verify()
    assert [e.type for e in result.emitted] == ["ledger.posted"]
    assert len(result.effects) == 1
