"""Matchers shared by the payments consumer tests: what may vary in each field."""

from __future__ import annotations

from typing import Any

from pact import match

PAYMENT_ID = r"^pay-[0-9a-z-]{1,64}$"
CURRENCY = r"^(EUR|USD|GBP)$"


def payment_fields(amount_cents: int = 1250) -> dict[str, Any]:
    """The payment identity every step carries, as matchers (type and shape, not values)."""
    return {
        "payment_id": match.regex("pay-contract-1", regex=PAYMENT_ID),
        "amount_cents": match.int(amount_cents),
        "currency": match.regex("EUR", regex=CURRENCY),
        "customer_id": match.str("cus-1"),
        "merchant_id": match.str("mer-1"),
    }
