"""The payments pipeline: orchestrator -> fraud -> authorization -> ledger -> notification.

The orchestrator owns the saga: it accepts a payment request (starting the saga) and, when the
notification agent reports that the customer was told, records the terminal outcome (completed
or declined). Between those, each agent hands its result to the next one.
"""

from __future__ import annotations

from harness import Agent, Context, Envelope, LedgerRow

PAYMENT_FIELDS = ("payment_id", "amount_cents", "currency", "customer_id", "merchant_id")


def payment_of(payload: dict) -> dict:
    """The payment identity fields every step carries forward."""
    return {k: payload[k] for k in PAYMENT_FIELDS}


orchestrator = Agent(
    "orchestrator", "1.0.0",
    consumes=["payment.requested@1", "notification.sent@1"],
    emits=["payment.accepted@1"],
)


@orchestrator.handler
async def orchestrate(ctx: Context, msg: Envelope) -> None:
    if msg.type == "payment.requested":
        ctx.emit("payment.accepted", dict(msg.payload))
    else:  # notification.sent: the saga is over
        await ctx.outcome("completed" if msg.payload["kind"] == "receipt" else "declined")


fraud = Agent("fraud", "1.0.0", consumes=["payment.accepted@1"], emits=["payment.risk_assessed@1"])


def assess_risk(payload: dict, high_risk_cents: int) -> tuple[str, list[str]]:
    """A rule-based risk model: large amounts and suspicious memos are risky."""
    reasons = []
    amount = payload["amount_cents"]
    if amount >= high_risk_cents:
        reasons.append("amount_over_limit")
    memo = payload.get("memo", "").lower()
    if "gift card" in memo or "urgent wire" in memo:
        reasons.append("suspicious_memo")
    if reasons:
        return "high", reasons
    return ("medium" if amount >= high_risk_cents // 2 else "low"), reasons


def summarise_memo(memo: str) -> str:
    """What the 'model' hands on: a fixed-form summary, never the customer's words verbatim."""
    words = len(memo.split())
    return f"customer memo of {words} word(s)" if memo else "no memo"


@fraud.handler
async def assess(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    ctx.emit("payment.risk_assessed", {**payment_of(msg.payload), "risk_level": level,
                                       "reasons": reasons,
                                       "memo_summary": summarise_memo(msg.payload.get("memo", ""))})


authorization = Agent("authorization", "1.0.0", consumes=["payment.risk_assessed@1"],
                      emits=["payment.authorized@1", "payment.declined@1"])


@authorization.handler
async def authorize(ctx: Context, msg: Envelope) -> None:
    payment = payment_of(msg.payload)
    if msg.payload["risk_level"] == "high":
        ctx.emit("payment.declined", {**payment, "reason": "high_risk"})
        return
    code = msg.idempotency_key[:8].upper()
    code = "".join(c if c.isalnum() else "0" for c in code)
    ctx.emit("payment.authorized", {**payment, "authorization_code": code,
                                    "risk_level": msg.payload["risk_level"]})


ledger = Agent("ledger", "1.0.0", consumes=["payment.authorized@1"], emits=["ledger.posted@1"])


@ledger.handler
async def post(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = p["amount_cents"]
    rows = (LedgerRow(f"customer:{p['customer_id']}", debit=amount),
            LedgerRow(f"merchant:{p['merchant_id']}", credit=amount))
    await ctx.effect("ledger.post", {"payment_id": p["payment_id"], "amount_cents": amount},
                     rows=rows)
    ctx.emit("ledger.posted", {**payment_of(p), "entries": len(rows),
                               "authorization_code": p["authorization_code"]})


notification = Agent("notification", "1.0.0",
                     consumes=["ledger.posted@1", "payment.declined@1"],
                     emits=["notification.sent@1"])


@notification.handler
async def notify(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if msg.type == "ledger.posted":
        kind, text = "receipt", f"Paid {p['amount_cents'] / 100:.2f} {p['currency']}"
    else:
        kind, text = "decline", "Your payment was declined"
    await ctx.effect("notification.send", {"payment_id": p["payment_id"], "kind": kind})
    ctx.emit("notification.sent", {"payment_id": p["payment_id"],
                                   "customer_id": p["customer_id"], "kind": kind, "text": text})


# mutation: off (the incident's broken variant below is not a correct agent: benchmarks/mutation.py)
# The incident (chaos/incidents/risk-score-rename.yaml): fraud 2.0.0 renames ``risk_level`` to a
# numeric ``risk_score``. Its schema, payment.risk_assessed v2, lives in the incident's registry
# overlay, not in contracts/: it is not BACKWARD compatible with v1, and authorization still
# reads ``risk_level``. ``harness contracts verify --provider fraud --variant fraud-v2`` fails.
fraud_v2 = Agent("fraud", "2.0.0", consumes=["payment.accepted@1"],
                 emits=["payment.risk_assessed@2"])

_SCORES = {"low": 0.1, "medium": 0.5, "high": 0.9}


@fraud_v2.handler
async def assess_v2(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    ctx.emit("payment.risk_assessed", {**payment_of(msg.payload), "risk_score": _SCORES[level],
                                       "reasons": reasons,
                                       "memo_summary": summarise_memo(msg.payload.get("memo", ""))})
