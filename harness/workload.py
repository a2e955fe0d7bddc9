"""Workloads: the inputs a run feeds in, generated from a seed.

``payments_workload`` makes payment requests: mostly valid, some high-risk (the fraud agent
flags them, authorization declines them) and some invalid in each of the ways an upstream agent
can go wrong: malformed bytes, a wrong schema version, a missing field, a huge payload.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from harness.envelope import Envelope, Producer

__all__ = ["INVALID_KINDS", "WorkItem", "payments_workload"]

INVALID_KINDS = ("malformed_bytes", "wrong_version", "missing_field", "huge_payload")


@dataclass(frozen=True)
class WorkItem:
    """One input: an envelope or raw bytes, with what the run should make of it.

    Attributes:
        correlation_id: the input's correlation id.
        envelope: the envelope, for inputs that parse.
        body: the raw bytes sent.
        valid: whether the input satisfies its contract.
        expect: ``completed``, ``declined`` or ``dead_lettered``.
        kind: ``valid``, ``high_risk`` or one of INVALID_KINDS.
    """

    correlation_id: str
    envelope: Envelope | None
    body: bytes
    valid: bool
    expect: str
    kind: str


def _payment(rng: random.Random, i: int, *, high_risk: bool) -> dict:
    amount = rng.randint(600_000, 5_000_000) if high_risk else rng.randint(100, 240_000)
    payload = {
        "payment_id": f"pay-{i:06d}",
        "amount_cents": amount,
        "currency": rng.choice(["EUR", "USD", "GBP"]),
        "customer_id": f"cust-{rng.randint(1, 500):04d}",
        "merchant_id": f"merch-{rng.randint(1, 50):03d}",
        "card_last4": f"{rng.randint(0, 9999):04d}",
    }
    if rng.random() < 0.3:
        payload["memo"] = rng.choice(["rent", "dinner with friends", "invoice 2291", "thanks!"])
    return payload


def payments_workload(n: int, seed: int, *, invalid_rate: float = 0.05,
                      high_risk_rate: float = 0.1, run_tag: str = "") -> list[WorkItem]:
    """``n`` payment requests from ``seed`` (the same seed gives the same inputs).

    Args:
        n: how many inputs.
        seed: the seed.
        invalid_rate: share of invalid inputs (at least one of each kind when n >= 20).
        high_risk_rate: share of high-risk (declined) inputs.
        run_tag: added to correlation ids so runs on a shared broker never collide.
    """
    rng = random.Random(seed)
    items: list[WorkItem] = []
    forced = list(INVALID_KINDS) if n >= 20 and invalid_rate > 0 else []
    forced_at = set(rng.sample(range(n), len(forced))) if forced else set()
    producer = Producer("workload", "1")
    for i in range(n):
        cid = f"pay-{run_tag}{seed}-{i:06d}"
        roll = rng.random()
        if i in forced_at:
            kind = forced.pop()
        elif roll < invalid_rate:
            kind = rng.choice(INVALID_KINDS)
        elif roll < invalid_rate + high_risk_rate:
            kind = "high_risk"
        else:
            kind = "valid"
        payload = _payment(rng, i, high_risk=kind == "high_risk")
        version = 1
        if kind == "missing_field":
            del payload[rng.choice(["amount_cents", "currency", "payment_id"])]
        elif kind == "huge_payload":
            payload["memo"] = "x" * rng.randint(1_100_000, 1_300_000)
        elif kind == "wrong_version":
            version = rng.choice([2, 7])
        env = Envelope.ingress(type="payment.requested", schema_version=version, payload=payload,
                               correlation_id=cid, producer=producer, identity=cid)
        if kind == "malformed_bytes":
            body = env.to_bytes()
            cut = rng.randint(10, len(body) - 10)
            body = body[:cut] + rng.choice([b"\xff\xfe", b"{{", b"\x00", b""])
            items.append(WorkItem(cid, None, body, False, "dead_lettered", kind))
            continue
        body = env.to_bytes() if kind != "huge_payload" else json.dumps(
            env.to_dict(), separators=(",", ":")).encode()
        valid = kind in ("valid", "high_risk")
        expect = {"valid": "completed", "high_risk": "declined"}.get(kind, "dead_lettered")
        items.append(WorkItem(cid, env if valid else None, body, valid, expect, kind))
    return items
