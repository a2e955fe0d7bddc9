"""Consumer-side message pacts: schema agreement, handler runs, merging."""

from __future__ import annotations

import pytest
from pact import match

from harness.contracts.consumer import ConsumerContractError, ConsumerPact
from harness.contracts.pactfiles import merge_pacts
from harness.contracts.registry import SchemaRegistry
from harness.contracts.target import default_pipeline
from harness.errors import InputError
from harness.pipeline import load_pipeline

PAYMENT = {"payment_id": "pay-1", "amount_cents": 1250, "currency": "EUR",
           "customer_id": "cus-1", "merchant_id": "mer-1"}


@pytest.fixture(scope="module")
def agents():
    spec = load_pipeline(default_pipeline())
    return {name: a.agent for name, a in spec.agents.items()}


def _pact(agent, provider="fraud", docs=None):
    sink = docs if docs is not None else []
    return ConsumerPact(agent, provider, SchemaRegistry(), on_written=sink.append)


def test_example_that_breaks_the_registry_schema_names_consumer_and_schema(agents):
    pact = _pact(agents["authorization"])
    pact.expect("a risk assessment", message="payment.risk_assessed@1",
                state="a high-risk payment was accepted",
                body={**PAYMENT, "risk_level": match.str("severe")})
    with pytest.raises(ConsumerContractError) as err:
        pact.verify()
    text = str(err.value)
    assert "authorization" in text and "payment.risk_assessed@1" in text
    assert "#/risk_level" in text


def test_a_message_the_consumer_does_not_consume_is_refused(agents):
    pact = _pact(agents["ledger"])
    pact.expect("wrong message", message="payment.declined@1",
                body={**PAYMENT, "reason": "high_risk"})
    with pytest.raises(ConsumerContractError, match=r"ledger does not consume payment\.declined@1"):
        pact.verify()


def test_verify_runs_the_real_handler_and_returns_the_pact(agents):
    docs: list = []
    pact = _pact(agents["authorization"], docs=docs)
    pact.expect("high", message="payment.risk_assessed@1", state="s",
                body={**PAYMENT, "risk_level": "high"})
    [result] = pact.verify()
    assert result.outcome == "acked"
    assert result.emitted[0].payload["reason"] == "high_risk"
    [doc] = docs
    [inter] = doc["interactions"]
    assert inter["type"] == "Asynchronous/Messages"
    assert inter["metadata"]["type"] == "payment.risk_assessed"
    assert inter["metadata"]["producer"] == "fraud"
    assert inter["providerStates"] == [{"name": "s"}]


async def test_verify_works_inside_a_running_event_loop(agents):
    pact = _pact(agents["authorization"])
    pact.expect("low", message="payment.risk_assessed@1", body={**PAYMENT, "risk_level": "low"})
    [result] = pact.verify()
    assert result.emitted[0].type == "payment.authorized"


def _doc(*interactions):
    return {"consumer": {"name": "c"}, "provider": {"name": "p"},
            "interactions": list(interactions)}


def test_merge_unions_and_sorts_interactions():
    a = {"description": "b", "contents": {"content": 1}}
    b = {"description": "a", "contents": {"content": 2}}
    merged = merge_pacts([_doc(a), _doc(b), _doc(a)])
    assert [i["description"] for i in merged[("c", "p")]["interactions"]] == ["a", "b"]


def test_merge_refuses_the_same_description_with_another_body():
    a = {"description": "x", "contents": {"content": 1}}
    b = {"description": "x", "contents": {"content": 2}}
    with pytest.raises(InputError, match="declared twice with different contents"):
        merge_pacts([_doc(a), _doc(b)])
