"""The payments pipeline with a Protobuf PaymentTransaction between fraud and authorization.

fraud encodes payment.risk_assessed as Protobuf bytes (contracts/payment.risk_assessed/v1.proto)
and authorization decodes them; the runtime validates the bytes at egress and ingress like a JSON
payload. The business rules are the JSON pipeline's (../payments/agents.py).
"""

from __future__ import annotations

from pathlib import Path

from harness import Agent, Context, Envelope
from harness.contracts.binary import decode_payload, encode_payload
from harness.contracts.registry import SchemaRegistry
from harness.pipeline import load_object

HERE = Path(__file__).resolve().parent
REGISTRY = SchemaRegistry(HERE / "contracts")
MESSAGE = "payments.PaymentTransaction"


def _json_agents(name: str) -> object:
    return load_object(f"../payments/agents.py:{name}", base=HERE, where=str(HERE))


assess_risk = _json_agents("assess_risk")
payment_of = _json_agents("payment_of")
summarise_memo = _json_agents("summarise_memo")

fraud = Agent("fraud", "1.0.0", consumes=["payment.accepted@1"], emits=["payment.risk_assessed@1"])


@fraud.handler
async def assess(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    value = {**payment_of(msg.payload), "risk_level": level, "reasons": reasons,
             "memo_summary": summarise_memo(msg.payload.get("memo", ""))}
    ctx.emit("payment.risk_assessed",
             encode_payload(REGISTRY, "payment.risk_assessed", 1, value, message=MESSAGE))


authorization = Agent("authorization", "1.0.0", consumes=["payment.risk_assessed@1"],
                      emits=["payment.authorized@1", "payment.declined@1"])


@authorization.handler
async def authorize(ctx: Context, msg: Envelope) -> None:
    transaction = decode_payload(REGISTRY, msg.type, msg.schema_version, msg.payload)
    payment = payment_of(transaction)
    if transaction["risk_level"] == "high":
        ctx.emit("payment.declined", {**payment, "reason": "high_risk"})
        return
    code = msg.idempotency_key[:8].upper()
    code = "".join(c if c.isalnum() else "0" for c in code)
    ctx.emit("payment.authorized", {**payment, "authorization_code": code,
                                    "risk_level": transaction["risk_level"]})


# The incident in Protobuf: risk_level renamed risk_score (a number) at the same field number.
OVERLAY = SchemaRegistry(HERE / "overlays" / "risk-score-rename")
fraud_v2 = Agent("fraud", "2.0.0", consumes=["payment.accepted@1"],
                 emits=["payment.risk_assessed@2"])
_SCORES = {"low": 0.1, "medium": 0.5, "high": 0.9}


@fraud_v2.handler
async def assess_v2(ctx: Context, msg: Envelope) -> None:
    level, reasons = assess_risk(msg.payload, int(ctx.params.get("high_risk_cents", 500_000)))
    value = {**payment_of(msg.payload), "risk_score": _SCORES[level], "reasons": reasons,
             "memo_summary": summarise_memo(msg.payload.get("memo", ""))}
    ctx.emit("payment.risk_assessed",
             encode_payload(OVERLAY, "payment.risk_assessed", 2, value, message=MESSAGE))
