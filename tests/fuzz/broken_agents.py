"""A zoo of broken agents the fuzzer must catch, built only through the documented agent API.

Each one is a variant of a payments agent with exactly one defect.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import Agent, Context, Envelope, LedgerRow

PAYMENT = ("payment_id", "amount_cents", "currency", "customer_id", "merchant_id")


def _get(payload: Any, key: str, default: Any = None) -> Any:
    return payload.get(key, default) if isinstance(payload, dict) else default


# -- no validation: trusts whatever parses as an envelope ------------------------------------
no_validation = Agent("fraud", "0.0.1-broken", consumes=["payment.accepted@1"],
                      emits=["payment.risk_assessed@1"], validate_ingress=False)


@no_validation.handler
async def _trusting(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    ctx.emit("payment.risk_assessed", {**{k: _get(p, k) for k in PAYMENT}, "risk_level": "low"})


# -- no validation, but tolerant: repairs what it gets and forwards something valid -----------
no_validation_tolerant = Agent("fraud", "0.0.2-broken", consumes=["payment.accepted@1"],
                               emits=["payment.risk_assessed@1"], validate_ingress=False)


@no_validation_tolerant.handler
async def _repairing(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = _get(p, "amount_cents")
    ctx.emit("payment.risk_assessed", {
        "payment_id": str(_get(p, "payment_id", "pay-unknown"))
        if str(_get(p, "payment_id", "")).startswith("pay-") else "pay-unknown",
        "amount_cents": amount if isinstance(amount, int) and 0 < amount <= 100_000_000 else 1,
        "currency": _get(p, "currency") if _get(p, "currency") in ("EUR", "USD", "GBP") else "EUR",
        "customer_id": str(_get(p, "customer_id", "c"))[:64] or "c",
        "merchant_id": str(_get(p, "merchant_id", "m"))[:64] or "m",
        "risk_level": "low"})


# -- validation after a side effect ------------------------------------------------------------
effect_first = Agent("ledger", "0.0.3-broken", consumes=["payment.authorized@1"],
                     emits=["ledger.posted@1"], validate_ingress=False)


@effect_first.handler
async def _post_then_check(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    amount = _get(p, "amount_cents", 0)
    amount = amount if isinstance(amount, int) else 0
    await ctx.effect("ledger.post", {"payment_id": str(_get(p, "payment_id"))},
                     rows=(LedgerRow("customer", debit=amount),
                           LedgerRow("merchant", credit=amount)))
    # validates, but too late: the ledger row is already written
    ctx.runtime.registry.validate(msg.type, msg.schema_version, p)
    ctx.emit("ledger.posted", {**{k: p[k] for k in PAYMENT}, "entries": 2})


# -- crashes on particular field values --------------------------------------------------------
def _crasher(name: str, base: str, consumes: str, emits: str, when) -> Agent:
    agent = Agent(base, f"0.1.0-{name}", consumes=[consumes], emits=[emits])

    @agent.handler
    async def _handle(ctx: Context, msg: Envelope) -> None:
        if when(msg.payload):
            raise ValueError(f"cannot handle {name}")
        if emits.startswith("payment.risk_assessed"):
            ctx.emit("payment.risk_assessed", {**{k: msg.payload[k] for k in PAYMENT},
                                               "risk_level": "low"})

    return agent


crash_on_max_amount = _crasher("max_amount", "fraud", "payment.accepted@1",
                               "payment.risk_assessed@1",
                               lambda p: p["amount_cents"] == 100_000_000)
crash_on_long_customer = _crasher("long_customer", "fraud", "payment.accepted@1",
                                  "payment.risk_assessed@1",
                                  lambda p: len(p["customer_id"]) == 64)
crash_on_gbp_memo = _crasher("gbp_memo", "fraud", "payment.accepted@1",
                             "payment.risk_assessed@1",
                             lambda p: p["currency"] == "GBP" and "memo" in p)
crash_on_empty_memo = _crasher("empty_memo", "fraud", "payment.accepted@1",
                               "payment.risk_assessed@1", lambda p: p.get("memo") == "")

# -- hangs on a value (the runtime times the handler out) --------------------------------------
hangs = Agent("notification", "0.2.0-hang", consumes=["ledger.posted@1", "payment.declined@1"],
              emits=["notification.sent@1"], timeout=0.2)


@hangs.handler
async def _slow(ctx: Context, msg: Envelope) -> None:
    if msg.payload.get("currency") == "USD":
        await asyncio.sleep(30)
    ctx.emit("notification.sent", {"payment_id": msg.payload["payment_id"],
                                   "customer_id": msg.payload["customer_id"], "kind": "receipt"})


# -- emits what its consumers would reject ------------------------------------------------------
bad_egress = Agent("authorization", "0.3.0-broken", consumes=["payment.risk_assessed@1"],
                   emits=["payment.authorized@1"])


@bad_egress.handler
async def _lowercase_code(ctx: Context, msg: Envelope) -> None:
    ctx.emit("payment.authorized", {**{k: msg.payload[k] for k in PAYMENT},
                                    "authorization_code": msg.idempotency_key[:8].lower()})


# -- forwards the customer's memo (an injected instruction) into a trusted field ----------------
def _forwarder(name: str, where: str) -> Agent:
    agent = Agent("fraud", f"0.4.0-{name}", consumes=["payment.accepted@1"],
                  emits=["payment.risk_assessed@1"])

    @agent.handler
    async def _handle(ctx: Context, msg: Envelope) -> None:
        memo = msg.payload.get("memo", "")
        out = {**{k: msg.payload[k] for k in PAYMENT}, "risk_level": "low"}
        if where == "summary":
            out["memo_summary"] = f"customer says: {memo}"[:200]
        elif where == "reasons":
            out["reasons"] = [memo[:200]] if memo else []
        ctx.emit("payment.risk_assessed", out)

    return agent


forwards_memo_summary = _forwarder("summary", "summary")
forwards_memo_reasons = _forwarder("reasons", "reasons")


# -- posts again on every delivery (effect key not derived from the input) ---------------------
double_posting_ledger = Agent("ledger", "0.5.0-broken", consumes=["payment.authorized@1"],
                              emits=["ledger.posted@1"])
_posts = iter(range(10**9))


@double_posting_ledger.handler
async def _post_always(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    rows = (LedgerRow(f"customer:{p['customer_id']}", debit=p["amount_cents"]),
            LedgerRow(f"merchant:{p['merchant_id']}", credit=p["amount_cents"]))
    await ctx.effect("ledger.post", {"payment_id": p["payment_id"]}, rows=rows,
                     key=f"{ctx.effect_key('ledger.post')}:{next(_posts)}")
    ctx.emit("ledger.posted", {**{k: p[k] for k in PAYMENT}, "entries": 2,
                               "authorization_code": p["authorization_code"]})


# -- drops GBP payments on the floor (acks without emitting anything) ----------------------------
dropping_authorization = Agent("authorization", "0.6.0-broken",
                               consumes=["payment.risk_assessed@1"],
                               emits=["payment.authorized@1", "payment.declined@1"])


@dropping_authorization.handler
async def _drop_gbp(ctx: Context, msg: Envelope) -> None:
    if msg.payload["currency"] == "GBP":
        return
    ctx.emit("payment.declined", {**{k: msg.payload[k] for k in PAYMENT}, "reason": "high_risk"})


# -- obeys instructions in the memo (steered, though it forwards nothing) -----------------------
steered_fraud = Agent("fraud", "0.7.0-steered", consumes=["payment.accepted@1"],
                      emits=["payment.risk_assessed@1"])


@steered_fraud.handler
async def _obedient(ctx: Context, msg: Envelope) -> None:
    memo = msg.payload.get("memo", "").lower()
    level = "high" if msg.payload["amount_cents"] >= 500_000 else "low"
    if "instruction" in memo or "ignor" in memo:  # "the model followed the memo"
        level = "low"
    ctx.emit("payment.risk_assessed", {**{k: msg.payload[k] for k in PAYMENT},
                                       "risk_level": level})


# -- fraud that emits a risk level its schema does not allow -------------------------------------
bad_egress_fraud = Agent("fraud", "0.8.0-broken", consumes=["payment.accepted@1"],
                         emits=["payment.risk_assessed@1"])


@bad_egress_fraud.handler
async def _unknown_level(ctx: Context, msg: Envelope) -> None:
    ctx.emit("payment.risk_assessed", {**{k: msg.payload[k] for k in PAYMENT},
                                       "risk_level": "unknown"})


# -- hands the customer's memo to a side effect (e.g. an e-mail body) ----------------------------
memo_to_effect = Agent("fraud", "0.9.0-effect", consumes=["payment.accepted@1"],
                       emits=["payment.risk_assessed@1"])


@memo_to_effect.handler
async def _mail_memo(ctx: Context, msg: Envelope) -> None:
    await ctx.effect("email.send", {"to": "ops@example.com", "body": msg.payload.get("memo", "")})
    ctx.emit("payment.risk_assessed", {**{k: msg.payload[k] for k in PAYMENT},
                                       "risk_level": "low"})
