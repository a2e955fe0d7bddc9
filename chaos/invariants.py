"""Business invariants of the payments pipeline, as user checkers (docs/detection.md).

Each is a pure function of the history's events and the end-of-run store snapshot, named in an
experiment's probes as ``checker: invariants.py:NAME``.
"""

from __future__ import annotations

import base64
import json
from typing import Any


def _published(events: list[dict[str, Any]], message_type: str):
    for e in events:
        if e.get("kind") == "publish" and e.get("type") == message_type and e.get("body"):
            yield json.loads(base64.b64decode(e["body"]))


def no_high_risk_approved(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """No payment the fraud agent rated high risk is ever posted to the ledger."""
    if snapshot is None:
        return "unknown"  # without the store's effects the postings cannot be judged
    risky = {env["payload"]["payment_id"] for env in _published(events, "payment.risk_assessed")
             if env["payload"].get("risk_level") == "high"}
    return [{"payment_id": eff.get("data", {}).get("payment_id"),
             "correlation_id": eff.get("correlation_id")}
            for eff in events if eff.get("kind") == "effect" and eff.get("applied")
            and eff.get("effect") == "ledger.post"
            and (eff.get("data") or {}).get("payment_id") in risky]
