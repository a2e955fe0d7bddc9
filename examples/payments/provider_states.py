"""Provider states of the payments agents, for message-pact verification.

Each handler returns the input envelope that makes the producer agent emit the message a
consumer's pact describes; ``harness contracts verify`` runs it through the agent's real runtime.
"""

from __future__ import annotations

from typing import Any

from harness import Envelope, Producer, ProviderStates

states = ProviderStates()


def payment(params: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid payment (the fields every step carries), with the state's parameters applied."""
    data = {"payment_id": "pay-contract-1", "amount_cents": 1250, "currency": "EUR",
            "customer_id": "cus-1", "merchant_id": "mer-1"}
    data.update(overrides)
    data.update({k: v for k, v in params.items() if k in data})
    return data


def _input(type_: str, payload: dict[str, Any], upstream: str) -> Envelope:
    return Envelope.ingress(type=type_, schema_version=1, payload=payload,
                            correlation_id=payload["payment_id"],
                            producer=Producer(upstream, "contract"))


# orchestrator: payment.requested -> payment.accepted
@states.state("orchestrator", "a payment was requested")
def requested(params: dict[str, Any]) -> Envelope:
    body = {**payment(params), "card_last4": "4242", "memo": str(params.get("memo", "rent"))}
    return _input("payment.requested", body, "workload")


# fraud: payment.accepted -> payment.risk_assessed
def _accepted(params: dict[str, Any], amount: int, memo: str) -> Envelope:
    body = {**payment(params, amount_cents=amount), "card_last4": "4242", "memo": memo}
    return _input("payment.accepted", body, "orchestrator")


@states.state("fraud", "a high-risk payment was accepted")
def high_risk_accepted(params: dict[str, Any]) -> Envelope:
    return _accepted(params, 900_000, "urgent wire")


@states.state("fraud", "a low-risk payment was accepted")
def low_risk_accepted(params: dict[str, Any]) -> Envelope:
    return _accepted(params, 1250, "coffee")


# authorization: payment.risk_assessed -> payment.authorized | payment.declined
def _assessed(params: dict[str, Any], level: str) -> Envelope:
    body = {**payment(params), "risk_level": level, "reasons": [], "memo_summary": "no memo"}
    return _input("payment.risk_assessed", body, "fraud")


@states.state("authorization", "a low-risk payment was assessed")
def low_risk_assessed(params: dict[str, Any]) -> Envelope:
    return _assessed(params, "low")


@states.state("authorization", "a high-risk payment was assessed")
def high_risk_assessed(params: dict[str, Any]) -> Envelope:
    return _assessed(params, "high")


# ledger: payment.authorized -> ledger.posted
@states.state("ledger", "a payment was authorized")
def authorized(params: dict[str, Any]) -> Envelope:
    body = {**payment(params), "authorization_code": "AB12CD34", "risk_level": "low"}
    return _input("payment.authorized", body, "authorization")


# notification: ledger.posted | payment.declined -> notification.sent
@states.state("notification", "a payment was posted to the ledger")
def posted(params: dict[str, Any]) -> Envelope:
    body = {**payment(params), "entries": 2, "authorization_code": "AB12CD34"}
    return _input("ledger.posted", body, "ledger")


@states.state("notification", "a payment was declined")
def declined(params: dict[str, Any]) -> Envelope:
    return _input("payment.declined", {**payment(params), "reason": "high_risk"}, "authorization")
