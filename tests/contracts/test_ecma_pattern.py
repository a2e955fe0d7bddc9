"""``pattern`` is judged with ECMA-262 anchors, as agents in JavaScript, Go or Rust judge it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts.ecma import ecma_pattern
from harness.contracts.registry import SchemaRegistry
from harness.errors import ValidationFailed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("pattern", "translated"), [
    ("^[A-Z0-9]{8}$", r"^[A-Z0-9]{8}\Z"),
    (r"^cost \$[0-9]+$", r"^cost \$[0-9]+\Z"),  # an escaped dollar is a literal
    ("^[$]+$", r"^[$]+\Z"),  # so is one in a class
    ("^[]$]x$", r"^[]$]x\Z"),  # a leading ] belongs to the class
    ("^(a$|b$)", r"^(a\Z|b\Z)"),
    ("no anchor", "no anchor"),
])
def test_end_anchors_mean_the_end_of_the_string(pattern: str, translated: str) -> None:
    assert ecma_pattern(pattern) == translated


def test_a_trailing_newline_does_not_satisfy_an_anchored_pattern() -> None:
    """python-jsonschema alone accepts "00000000\\n" for ^[A-Z0-9]{8}$; the Node ledger's
    validator (examples/polyglot) rightly refused it, and the fuzzer called that a false
    rejection. The registry now refuses it too, naming the field."""
    registry = SchemaRegistry(ROOT / "contracts")
    payload = {"payment_id": "pay-0", "amount_cents": 1, "currency": "EUR", "customer_id": "0",
               "merchant_id": "0", "authorization_code": "00000000"}
    registry.validate("payment.authorized", 1, payload)
    with pytest.raises(ValidationFailed) as info:
        registry.validate("payment.authorized", 1, {**payload, "authorization_code": "00000000\n"})
    assert "authorization_code" in str(info.value)
