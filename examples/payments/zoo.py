"""The payments bug zoo: deliberately broken variants of the payments agents.

Each is a real agent written against the documented agent API (docs/chaos.md) and selected by
an experiment in chaos/zoo/ through ``variants: {agent: zoo.py:NAME}``; the experiment names the
checker that must catch it. Never use these outside the zoo.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

from harness import Agent, Context, Envelope, LedgerRow
from harness.envelope import derive_id
from harness.pipeline import load_object


def _ours(name: str):  # the example's own agents module (same module the pipeline loads)
    return load_object(f"agents.py:{name}", base=Path(__file__).parent, where="zoo.py")


assess_risk, authorization, fraud, ledger, orchestrator, payment_of, summarise_memo = (
    _ours(n) for n in ("assess_risk", "authorization", "fraud", "ledger", "orchestrator",
                       "payment_of", "summarise_memo"))

# -- 1. a ledger that does not deduplicate (caught by exactly_once) -----------------------------
ledger_no_dedup = ledger.variant(version="1.0.0-zoo-nodedup")


@ledger_no_dedup.handler
async def post_without_dedup(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = p["amount_cents"]
    rows = (LedgerRow(f"customer:{p['customer_id']}", debit=amount),
            LedgerRow(f"merchant:{p['merchant_id']}", credit=amount))
    # BUG: a new key on every delivery, so a redelivered or duplicated message posts again
    await ctx.effect("ledger.post", {"payment_id": p["payment_id"], "amount_cents": amount},
                     rows=rows, key=uuid.uuid4().hex)
    ctx.emit("ledger.posted", {**payment_of(p), "entries": len(rows),
                               "authorization_code": p["authorization_code"]})


# -- 2. an idempotency key generated fresh per try (caught by exactly_once) ---------------------
authorization_fresh_key = authorization.variant(version="1.0.0-zoo-freshkey")


@authorization_fresh_key.handler
async def authorize_fresh_key(ctx: Context, msg: Envelope) -> None:
    payment = payment_of(msg.payload)
    if msg.payload["risk_level"] == "high":
        ctx.emit("payment.declined", {**payment, "reason": "high_risk"})
        return
    env = msg.child(type="payment.authorized", schema_version=1,
                    payload={**payment, "authorization_code": "A0000001",
                             "risk_level": msg.payload["risk_level"]},
                    producer=authorization_fresh_key.producer, index=0)
    # BUG: a fresh message id and idempotency key per try instead of ones derived from the input
    fresh = uuid.uuid4().hex
    ctx.forward(dataclasses.replace(env, message_id=derive_id("msg", fresh),
                                    idempotency_key=derive_id("idem", fresh)))


# -- 3. an agent that forwards unvalidated input (caught by wire) -------------------------------
orchestrator_unvalidated = orchestrator.variant(version="1.0.0-zoo-unvalidated",
                                                validate_ingress=False)


# -- 4. an agent that drops the correlation id (caught by trace) --------------------------------
fraud_drops_correlation = fraud.variant(version="1.0.0-zoo-nocorrelation")


@fraud_drops_correlation.handler
async def assess_without_correlation(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    env = msg.child(type="payment.risk_assessed", schema_version=1,
                    payload={**payment_of(msg.payload), "risk_level": level, "reasons": reasons,
                             "memo_summary": "n/a"},
                    producer=fraud_drops_correlation.producer, index=0)
    # BUG: starts a new correlation instead of carrying the input's
    ctx.forward(dataclasses.replace(env, correlation_id=f"fraud-{uuid.uuid4().hex[:12]}"))


# -- 5. the canonical incident: fraud emits risk_score, authorization reads risk_level (wire) ---
fraud_risk_score = fraud.variant(version="2.0.0-zoo-riskscore")


@fraud_risk_score.handler
async def assess_risk_score(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    score = {"low": 0.1, "medium": 0.5, "high": 0.95}[level]
    # BUG: renamed field, still declared as payment.risk_assessed v1 (which requires risk_level)
    ctx.emit("payment.risk_assessed", {**payment_of(msg.payload), "risk_score": score,
                                       "reasons": reasons,
                                       "memo_summary": summarise_memo(msg.payload.get("memo", ""))})


# -- 6. an agent that reads a shared key another agent writes (caught by outcomes) --------------
SHARED: dict[str, str] = {}
fraud_writes_shared = fraud.variant(version="1.0.0-zoo-shared")
authorization_reads_shared = authorization.variant(version="1.0.0-zoo-shared")


@fraud_writes_shared.handler
async def assess_and_share(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    SHARED["risk_level"] = level  # BUG: shared mutable state instead of the message
    ctx.emit("payment.risk_assessed", {**payment_of(msg.payload), "risk_level": level,
                                       "reasons": reasons, "memo_summary": "n/a"})


@authorization_reads_shared.handler
async def authorize_from_shared(ctx: Context, msg: Envelope) -> None:
    payment = payment_of(msg.payload)
    level = SHARED.get("risk_level", "low")  # BUG: reads the shared key, not msg.payload
    if level == "high":
        ctx.emit("payment.declined", {**payment, "reason": "high_risk"})
        return
    ctx.emit("payment.authorized", {**payment, "authorization_code": "A0000002",
                                    "risk_level": level})


# -- 7. an agent that names a message it never consumed as the cause (caught by causal) -------
authorization_wrong_cause = authorization.variant(version="1.0.0-zoo-wrongcause")


class _NamesTheRequest:
    """The handler's Context, except that what it emits is forwarded naming the wrong cause."""

    def __init__(self, ctx: Context, msg: Envelope) -> None:
        self._ctx, self._msg = ctx, msg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def emit(self, message_type: str, payload: Any, *, version: int | None = None) -> Envelope:
        env = self._msg.child(type=message_type, schema_version=version or 1, payload=payload,
                              producer=authorization_wrong_cause.producer,
                              index=len(self._ctx.emitted))
        # BUG: names the payment request (what fraud consumed) as the cause instead of its
        # input; same correlation and a known message, so trace accepts it
        return self._ctx.forward(dataclasses.replace(env, causation_id=self._msg.causation_id))


@authorization_wrong_cause.handler
async def authorize_naming_the_request(ctx: Context, msg: Envelope) -> None:
    await authorization.fn(_NamesTheRequest(ctx, msg), msg)  # type: ignore[arg-type]


# -- 8. a ledger that deduplicates on the message id (caught by exactly_once under resubmit) -----
ledger_dedup_on_message_id = ledger.variant(version="1.0.0-zoo-msgid")


@ledger_dedup_on_message_id.handler
async def post_keyed_on_message_id(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = p["amount_cents"]
    rows = (LedgerRow(f"customer:{p['customer_id']}", debit=amount),
            LedgerRow(f"merchant:{p['merchant_id']}", credit=amount))
    # BUG: keyed on the message id: a redelivery or a duplicate (same id) is caught, a
    # resubmission (same request and idempotency key, new message id) posts again
    await ctx.effect("ledger.post", {"payment_id": p["payment_id"], "amount_cents": amount},
                     rows=rows, key=derive_id("ledger", msg.message_id))
    ctx.emit("ledger.posted", {**payment_of(p), "entries": len(rows),
                               "authorization_code": p["authorization_code"]})


# -- 9. a ledger keyed on the correlation (caught by exactly_once: the business key) ----------
ledger_keyed_on_correlation = ledger.variant(version="1.0.0-zoo-cid")


@ledger_keyed_on_correlation.handler
async def post_keyed_on_correlation(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = p["amount_cents"]
    rows = (LedgerRow(f"customer:{p['customer_id']}", debit=amount),
            LedgerRow(f"merchant:{p['merchant_id']}", credit=amount))
    # BUG: one posting per correlation, not per payment: a client's retry of the same payment
    # (a new correlation) posts it again
    await ctx.effect("ledger.post", {"payment_id": p["payment_id"], "amount_cents": amount},
                     rows=rows, key=derive_id("ledger", msg.correlation_id, p["payment_id"]))
    ctx.emit("ledger.posted", {**payment_of(p), "entries": len(rows),
                               "authorization_code": p["authorization_code"]})


# -- 10. an authorization that approves high-risk payments (caught by the business rules) --------
authorization_approves_high_risk = authorization.variant(version="1.0.0-zoo-approvehigh")


@authorization_approves_high_risk.handler
async def authorize_everything(ctx: Context, msg: Envelope) -> None:
    payment = payment_of(msg.payload)
    # BUG: high risk is "downgraded" to medium (the contract allows no high in an
    # authorization) and approved: the schema is satisfied, the business rule is not
    level = "medium" if msg.payload["risk_level"] == "high" else msg.payload["risk_level"]
    ctx.emit("payment.authorized", {**payment, "authorization_code": "A0000003",
                                    "risk_level": level})


__all__ = [
    "Agent",
    "authorization_approves_high_risk",
    "authorization_fresh_key",
    "authorization_reads_shared",
    "authorization_wrong_cause",
    "fraud_drops_correlation",
    "fraud_risk_score",
    "fraud_writes_shared",
    "ledger_dedup_on_message_id",
    "ledger_keyed_on_correlation",
    "ledger_no_dedup",
    "orchestrator_unvalidated",
]
