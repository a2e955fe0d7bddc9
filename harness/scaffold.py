"""``harness new pipeline DIR``: a small working pipeline of your own to start from.

An orders flow: ``order.placed`` -> inventory reserves the stock (``inventory.reserved``) or
declines the order -> shipping ships it as an effect, exactly once per order. It comes with its
schemas and subject files, a consumer pact test with provider states, one chaos experiment and
one bug-zoo variant (a shipping agent whose effect key is drawn fresh per delivery) that the
experiment's zoo twin catches. Every file passes ``harness run``, ``chaos run``, ``fuzz``,
``registry check``, pytest and ``contracts verify`` in that folder unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = ["FILES", "scaffold"]

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_ORDER = {
    "order_id": _ID,
    "sku": {"type": "string", "minLength": 1, "maxLength": 32},
    "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
    "customer_id": _ID,
}


def _schema(title: str, props: dict[str, Any]) -> str:
    doc = {"$schema": "http://json-schema.org/draft-07/schema#", "title": title,
           "type": "object", "properties": props, "required": sorted(props),
           "additionalProperties": False}
    return json.dumps(doc, indent=2) + "\n"


_SUBJECT = "compatibility: BACKWARD\npolicy: strict\n"

PIPELINE = """\
# An orders pipeline: order.placed -> inventory (reserve or decline) -> shipping (effect).
# Reference: docs/running.md (workloads), docs/chaos.md (experiments).
name: orders
description: inventory reserves or declines each order; shipping ships it exactly once
topology: choreographed
registry: contracts                 # schemas: contracts/<type>/v<N>.json + subject.yaml
ingress: order.placed@1             # what `harness run` feeds in (drawn from its schema)
store: sqlite
delivery_limit: 5
budgets:
  end_to_end: {p99_ms: 3000}
agents:
  inventory:
    handler: agents.py:inventory
    timeout_ms: 1000
    params: {max_quantity: 50}      # orders above this are declined (out of stock)
  shipping:
    handler: agents.py:shipping
    timeout_ms: 1000
"""

AGENTS = '''\
"""The orders agents: inventory reserves or declines, shipping ships (an effect)."""

from __future__ import annotations

from harness import Agent, Context, Envelope

inventory = Agent("inventory", "1.0.0", consumes=["order.placed@1"],
                  emits=["inventory.reserved@1"])


@inventory.handler
async def reserve(ctx: Context, msg: Envelope) -> None:
    order = msg.payload
    if order["quantity"] > int(ctx.params.get("max_quantity", 50)):
        await ctx.outcome("declined", "out of stock")
        return
    ctx.emit("inventory.reserved", {**order, "reservation_id": f"res-{order['order_id']}"})


shipping = Agent("shipping", "1.0.0", consumes=["inventory.reserved@1"], emits=[])


@shipping.handler
async def ship(ctx: Context, msg: Envelope) -> None:
    order = msg.payload
    # the effect's key is derived from the input, so a redelivery or duplicate ships once
    await ctx.effect("shipment.created", {"order_id": order["order_id"],
                                          "sku": order["sku"], "quantity": order["quantity"]})
    await ctx.outcome("completed")
'''

ZOO = '''\
"""A broken shipping agent (the bug zoo): its effect key is drawn fresh per delivery, so a
redelivered or duplicated message ships twice. chaos/zoo-fresh-key.yaml catches it."""

from __future__ import annotations

import uuid
from pathlib import Path

from harness import Context, Envelope
from harness.pipeline import load_object

shipping = load_object("agents.py:shipping", base=Path(__file__).parent, where="zoo.py")
shipping_fresh_key = shipping.variant(version="1.0.0-zoo-freshkey")


@shipping_fresh_key.handler
async def ship_twice(ctx: Context, msg: Envelope) -> None:
    order = msg.payload
    # BUG: a new idempotency key on every delivery
    await ctx.effect("shipment.created", {"order_id": order["order_id"]}, key=uuid.uuid4().hex)
    await ctx.outcome("completed")
'''

STATES = '''\
"""Provider states for message-pact verification (harness contracts verify --provider inventory).

Each state returns the input envelope that makes the provider agent emit the message the
consumer's pact describes."""

from __future__ import annotations

from typing import Any

from harness import Envelope, Producer
from harness.contracts.states import ProviderStates

states = ProviderStates()


@states.state("inventory", "an order for stock on hand was placed")
def order_in_stock(params: dict[str, Any]) -> Envelope:
    order = {"order_id": "ord-1", "sku": "sku-1", "quantity": 2, "customer_id": "cus-1"}
    order.update({k: v for k, v in params.items() if k in order})
    return Envelope.ingress(type="order.placed", schema_version=1, payload=order,
                            correlation_id=order["order_id"], producer=Producer("shop", "1"))
'''

CONFTEST = '''\
"""This pipeline's tests. The ``agent``, ``message_pact`` and ``pact_registry`` fixtures come from
the harness's pytest plugin; this file only names the pipeline they read (so pytest may run from
any folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def harness_pipeline_file() -> Path:
    return HERE / "pipeline.yaml"
'''

CONSUMER_TEST = '''\
"""shipping reads inventory.reserved from inventory (a consumer-driven message pact).

Run ``pytest --harness-pact-dir contracts/pacts`` to rewrite the pact file that
``harness contracts verify --provider inventory`` checks."""

from __future__ import annotations

from pact import match


def test_shipping_ships_a_reserved_order(message_pact, agent):
    shipping, params = agent("shipping")
    pact = message_pact(shipping, provider="inventory", params=params)
    pact.expect(
        "a reserved order",
        message="inventory.reserved@1",
        state="an order for stock on hand was placed",
        body={"order_id": match.str("ord-1"), "sku": match.str("sku-1"),
              "quantity": match.int(2), "customer_id": match.str("cus-1"),
              "reservation_id": match.str("res-ord-1")},
    )
    [result] = pact.verify()
    assert [e["effect"] for e in result.effects] == ["shipment.created", "outcome:completed"]
'''

PIPELINE_TEST = '''\
"""The whole pipeline on its schema-drawn workload: nothing lost, nothing shipped twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.engine import run_pipeline

HERE = Path(__file__).resolve().parents[1]


def test_every_order_is_shipped_or_declined_once(tmp_path):
    summary = asyncio.run(run_pipeline(HERE / "pipeline.yaml", transactions=40, seed=1,
                                       out=tmp_path))
    assert summary.ok, summary.to_dict()
    assert summary.completed > 0 and summary.dead_lettered > 0
'''

EXPERIMENT = """\
# harness chaos run chaos/orders-faults.yaml   (--processes --broker amqp://... for real kills)
title: orders ship exactly once under duplicates, crashes after the effect and a kill
pipeline: ../pipeline.yaml
seed: 1
workload: {count: 60, rate: 200, mix: {valid: 0.9, invalid: 0.1}}
steady-state-hypothesis:
  probes: [no_loss, outcomes, exactly_once, trace, wire, dead_letters]
method:
  - {fault: duplicate, target: shipping, probability: 0.3}
  - {fault: crash_after_effect, target: shipping, probability: 0.3, max: 4}
  - {fault: kill, target: inventory, at: 0.05}
expect: {valid: true}
settle_timeout: 30
"""

ZOO_EXPERIMENT = EXPERIMENT.replace(
    "title: orders ship exactly once", "title: the fresh-key shipping agent ships twice"
).replace("pipeline: ../pipeline.yaml\n",
          "pipeline: ../pipeline.yaml\n"
          "variants: {shipping: zoo.py:shipping_fresh_key}   # FILE.py relative to the pipeline\n"
).replace("expect: {valid: true}", "expect: {valid: false, caught_by: [exactly_once]}")

README = """\
# orders

A pipeline made with `harness new pipeline`: order.placed -> inventory (reserves, or declines
orders above `max_quantity`) -> shipping (ships as an effect, once per order).

    harness run pipeline.yaml                       # exit 0: nothing lost or doubled
    harness chaos run chaos/orders-faults.yaml      # valid under duplicates, crashes, a kill
    harness chaos run chaos/zoo-fresh-key.yaml      # exit 1: caught by exactly_once
    harness fuzz --pipeline pipeline.yaml --examples 50
    harness registry check contracts
    pytest
    harness contracts verify --provider inventory   # the pact in contracts/pacts

The workload is drawn from contracts/order.placed/v1.json (no generator needed); to write your
own, add `workload: workload.py:orders_workload` to pipeline.yaml (docs/running.md).
"""

FILES: dict[str, str] = {
    "pipeline.yaml": PIPELINE,
    "agents.py": AGENTS,
    "zoo.py": ZOO,
    "provider_states.py": STATES,
    "conftest.py": CONFTEST,
    "tests/test_consumer_shipping.py": CONSUMER_TEST,
    "tests/test_pipeline.py": PIPELINE_TEST,
    "chaos/orders-faults.yaml": EXPERIMENT,
    "chaos/zoo-fresh-key.yaml": ZOO_EXPERIMENT,
    "README.md": README,
    "contracts/order.placed/v1.json": _schema("An order was placed", _ORDER),
    "contracts/order.placed/subject.yaml": _SUBJECT,
    "contracts/inventory.reserved/v1.json": _schema(
        "Inventory reserved the stock of an order",
        {**_ORDER, "reservation_id": {"type": "string", "minLength": 1, "maxLength": 80}}),
    "contracts/inventory.reserved/subject.yaml": _SUBJECT,
}


def scaffold(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write the orders pipeline into ``folder`` (plus its pact file); the paths written.

    Raises:
        InputError: the folder holds any of the files already (nothing is written).
    """
    root = Path(folder)
    clashes = [name for name in FILES if (root / name).exists()]
    if clashes and not force:
        raise InputError(f"{root / clashes[0]} exists (use another folder or --force)",
                         where=str(root))
    written = []
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    written.append(_write_pact(root))
    return written


def _write_pact(root: Path) -> Path:
    """contracts/pacts/shipping-inventory.json, made by the consumer test's own expectation."""
    from pact import match

    from harness.contracts.consumer import ConsumerPact
    from harness.contracts.registry import SchemaRegistry
    from harness.pipeline import load_pipeline

    spec = load_pipeline(root / "pipeline.yaml")
    documents: list[dict[str, Any]] = []
    pact = ConsumerPact(spec.agents["shipping"].agent, "inventory",  # type: ignore[arg-type]
                        SchemaRegistry(spec.registry_path), on_written=documents.append)
    pact.expect("a reserved order", message="inventory.reserved@1",
                state="an order for stock on hand was placed",
                body={"order_id": match.str("ord-1"), "sku": match.str("sku-1"),
                      "quantity": match.int(2), "customer_id": match.str("cus-1"),
                      "reservation_id": match.str("res-ord-1")})
    pact.verify()
    path = root / "contracts" / "pacts" / "shipping-inventory.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(documents[0], indent=2) + "\n", encoding="utf-8")
    return path
