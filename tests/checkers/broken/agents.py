"""Broken agents the bug zoo does not have, written from the documented API only (docs/api.md:
``Agent``, ``Context``, ``Envelope``, ``LedgerRow``), as a reviewer would write them.

Each is selected by an experiment beside this file (``variants: {AGENT: ...agents.py:NAME}``)
that names the checker which must catch it; ``tests/checkers/test_broken_agents.py`` runs every
one on three seeds. Never use these outside the tests.
"""

from __future__ import annotations

import hashlib

from harness import Agent, Context, Envelope, LedgerRow

PAYMENT = ("payment_id", "amount_cents", "currency", "customer_id", "merchant_id")


def _payment(p: dict) -> dict:
    return {k: p[k] for k in PAYMENT}


# -- 1. a ledger that silently skips a band of amounts (large medium-risk payments) ------------
ledger_skips_large = Agent(
    "ledger", "1.0.0-broken-skip", consumes=["payment.authorized@1"], emits=["ledger.posted@1"]
)


@ledger_skips_large.handler
async def post_unless_large(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if p["amount_cents"] >= 400_000:
        return  # BUG: "needs manual review", but nobody is told: acked, never posted
    rows = (
        LedgerRow(f"customer:{p['customer_id']}", debit=p["amount_cents"]),
        LedgerRow(f"merchant:{p['merchant_id']}", credit=p["amount_cents"]),
    )
    await ctx.effect(
        "ledger.post", {"payment_id": p["payment_id"], "amount_cents": p["amount_cents"]}, rows=rows
    )
    ctx.emit(
        "ledger.posted",
        {**_payment(p), "entries": 2, "authorization_code": p["authorization_code"]},
    )


# -- 2. a notification that sends the receipt on authorization, before the ledger posts --------
notification_early_receipt = Agent(
    "notification",
    "1.0.0-broken-early",
    consumes=["payment.authorized@1", "ledger.posted@1", "payment.declined@1"],
    emits=["notification.sent@1"],
)


@notification_early_receipt.handler
async def notify_early(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if msg.type == "ledger.posted":
        return  # BUG: the receipt already went out when the payment was authorized
    kind = "receipt" if msg.type == "payment.authorized" else "decline"
    text = (
        f"Paid {p['amount_cents'] / 100:.2f} {p['currency']}"
        if kind == "receipt"
        else "Your payment was declined"
    )
    await ctx.effect("notification.send", {"payment_id": p["payment_id"], "kind": kind})
    ctx.emit(
        "notification.sent",
        {
            "payment_id": p["payment_id"],
            "customer_id": p["customer_id"],
            "kind": kind,
            "text": text,
        },
    )


# -- 3. a fraud agent that labels its output with a schema version it does not write ----------
fraud_wrong_version = Agent(
    "fraud",
    "1.1.0-broken-version",
    consumes=["payment.accepted@1"],
    emits=["payment.risk_assessed@1"],
)


def _risk(p: dict) -> tuple[str, list[str]]:
    memo = p.get("memo", "").lower()
    reasons = (["amount_over_limit"] if p["amount_cents"] >= 500_000 else []) + (
        ["suspicious_memo"] if "gift card" in memo or "urgent wire" in memo else []
    )
    if reasons:
        return "high", reasons
    return ("medium" if p["amount_cents"] >= 250_000 else "low"), reasons


def _assessment(p: dict, level: str, reasons: list[str]) -> dict:
    memo = p.get("memo", "")
    return {
        **_payment(p),
        "risk_level": level,
        "reasons": reasons,
        "memo_summary": f"customer memo of {len(memo.split())} word(s)" if memo else "no memo",
    }


@fraud_wrong_version.handler
async def assess_as_v2(ctx: Context, msg: Envelope) -> None:
    level, reasons = _risk(msg.payload)
    # BUG: a v1 payload sent as version 2 (a bumped constant, the schema never registered)
    ctx.emit("payment.risk_assessed", _assessment(msg.payload, level, reasons), version=2)


# -- 4. a fraud agent that memoizes the risk per merchant (stale across payments) -------------
fraud_per_merchant = Agent(
    "fraud", "1.1.0-broken-memo", consumes=["payment.accepted@1"], emits=["payment.risk_assessed@1"]
)


@fraud_per_merchant.handler
async def assess_once_per_merchant(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    key = "risk:" + p["merchant_id"]
    if key not in ctx.cache:  # BUG: "merchants rarely change": one payment's risk for all
        ctx.cache[key] = _risk(p)
    level, reasons = ctx.cache[key]
    ctx.emit("payment.risk_assessed", _assessment(p, level, reasons))


# -- 5. a DRM agent that protects and publishes videos whose rights are flagged ---------------
drm_ignores_rights = Agent(
    "drm",
    "1.0.0-broken-rights",
    consumes=["video.transcoding_complete@1"],
    emits=["video.drm_applied@1"],
)


@drm_ignores_rights.handler
async def protect_everything(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    # BUG: the rights check was lost in a refactor: flagged videos are published too
    key_id = "key-" + hashlib.sha256(f"{p['video_id']}|drm".encode()).hexdigest()[:16]
    await ctx.effect("drm.license", {"video_id": p["video_id"], "key_id": key_id})
    ctx.emit(
        "video.drm_applied",
        {"video_id": p["video_id"], "renditions": p["renditions"], "key_id": key_id},
    )


# -- 6. a dispatch keyed on the correlation: a rider's retried request sends a second driver ---
dispatch_per_correlation = Agent(
    "dispatch", "1.0.0-broken-cid", consumes=["ride.eta_estimated@1"], emits=["ride.dispatched@1"]
)


@dispatch_per_correlation.handler
async def dispatch_once_per_correlation(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    # BUG: "one dispatch per request" keyed on the correlation, not on the ride
    await ctx.effect(
        "dispatch",
        {"ride_id": p["ride_id"], "driver_id": p["driver_id"]},
        key=f"dispatch:{msg.correlation_id}",
    )
    ctx.emit(
        "ride.dispatched",
        {
            "ride_id": p["ride_id"],
            "driver_id": p["driver_id"],
            "eta_seconds": p["eta_seconds"],
            "eta_source": p["eta_source"],
        },
    )
    await ctx.outcome("completed")
