"""orchestrator reads notification.sent from notification to close the saga."""

from __future__ import annotations

import pytest
from pact import match

CASES = [
    ("a receipt was sent", "a payment was posted to the ledger", "receipt", "completed"),
    ("a decline notice was sent", "a payment was declined", "decline", "declined"),
]


@pytest.mark.parametrize(("description", "state", "kind", "outcome"), CASES)
def test_orchestrator_closes_the_saga(message_pact, agent, description, state, kind, outcome):
    orchestrator, params = agent("orchestrator")
    pact = message_pact(orchestrator, provider="notification", params=params)
    pact.expect(
        description,
        message="notification.sent@1",
        state=state,
        body={"payment_id": match.regex("pay-contract-1", regex=r"^pay-[0-9a-z-]{1,64}$"),
              "customer_id": match.str("cus-1"), "kind": kind},
    )
    [result] = pact.verify()
    assert [e["effect"] for e in result.effects] == [f"outcome:{outcome}"]
