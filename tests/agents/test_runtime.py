"""The runtime around every handler: ingress validation, dead letters, crashes, fallbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness import Agent, Context, Envelope
from harness.agents.probe import AgentProbe
from harness.agents.runtime import AgentCrash
from harness.contracts.registry import SchemaRegistry
from harness.pipeline import load_pipeline
from harness.run import PipelineRun
from harness.workload import payments_workload

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"
PAYMENT = {"payment_id": "pay-1", "amount_cents": 1200, "currency": "EUR",
           "customer_id": "c-1", "merchant_id": "m-1", "card_last4": "4242"}


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(ROOT / "contracts")


def accepted(**payload) -> Envelope:
    return Envelope.ingress(type="payment.accepted", schema_version=1,
                            payload={**PAYMENT, **payload}, correlation_id="pay-1")


async def feed(run: PipelineRun, items) -> None:
    for item in items:
        if item.envelope is not None:
            await run.send(item.envelope, expect=item.expect)
        else:
            await run.send(item.body, correlation_id=item.correlation_id, valid=False)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x01garbage", "not_json"),
        (accepted().to_bytes().replace(b'"schema_version":1', b'"schema_version":9'),
         "unknown_version"),
        (accepted().with_payload({k: v for k, v in PAYMENT.items() if k != "currency"}).to_bytes(),
         "schema_invalid"),
        (Envelope.ingress(type="payment.declined", schema_version=1, payload={},
                          correlation_id="pay-1").to_bytes(), "unexpected_type"),
        (accepted(memo="x" * 1_200_000).to_bytes(), "too_large"),
    ],
    # ids from the reason: the bodies carry fresh ids and timestamps (xdist needs one collection)
    ids=["not_json", "unknown_version", "schema_invalid", "unexpected_type", "too_large"],
)
async def test_bad_input_is_dead_lettered_with_reason_and_the_agent_keeps_going(
        registry, body, reason):
    fraud = load_pipeline(PIPELINE).agents["fraud"].agent
    async with AgentProbe(fraud, registry) as probe:
        bad = await probe.send(body, headers={"x-correlation-id": "pay-1"})
        assert bad.outcome == "dead_lettered" and not bad.emitted
        (dl,) = bad.dead_letters
        assert dl.reason == reason and dl.body == body and dl.correlation_id == "pay-1"
        assert dl.detail  # a human-readable detail naming the place
        good = await probe.send(accepted())
        assert good.outcome == "acked"
        assert good.emitted[0].payload["risk_level"] == "low"


async def test_emitted_messages_carry_correlation_causation_and_trace(registry):
    fraud = load_pipeline(PIPELINE).agents["fraud"].agent
    src = accepted()
    async with AgentProbe(fraud, registry) as probe:
        (out,) = (await probe.send(src)).emitted
    assert out.correlation_id == src.correlation_id
    assert out.causation_id == src.message_id
    assert out.trace.trace_id == src.trace.trace_id
    assert out.producer.agent == "fraud"


async def test_an_agent_that_emits_an_invalid_message_does_not_forward_it(registry):
    sloppy = Agent("sloppy", "1", consumes=["payment.accepted@1"],
                   emits=["payment.risk_assessed@1"])

    @sloppy.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        ctx.emit("payment.risk_assessed", {**msg.payload, "risk_score": 0.9})  # no risk_level

    async with AgentProbe(sloppy, registry) as probe:
        result = await probe.send(accepted())
    assert not result.emitted
    assert result.dead_letters[0].reason == "emitted_invalid"
    assert "risk_level" in result.dead_letters[0].detail


class CrashOncePer:
    """Crash an agent at a point on the first delivery of every message."""

    def __init__(self, agent: str, point: str) -> None:
        self.agent, self.point = agent, point
        self.seen: set[str] = set()
        self.crashes = 0

    async def at(self, point, runtime, envelope) -> None:
        if runtime.agent.name == self.agent and point == self.point and envelope is not None:
            if envelope.message_id not in self.seen:
                self.seen.add(envelope.message_id)
                self.crashes += 1
                raise AgentCrash(f"injected at {point}")


async def test_a_fate_recorded_while_settle_drains_dead_letters_wakes_it_at_once():
    # settle awaits the dead-letter queues between its waits; an outcome recorded during that
    # await must end the wait at once, not after a whole poll interval
    spec = load_pipeline(PIPELINE)
    async with PipelineRun(spec, store="memory") as run:
        run.track("pay-late")  # sent, no fate yet
        real, drains = run.drain_dead_letters, []

        async def drain_then_fate():
            found = await real()
            drains.append(found)
            if len(drains) == 1:
                run.recorder.record("outcome", outcome="completed", correlation_id="pay-late",
                                    message_id="m-late")
            return found

        run.drain_dead_letters = drain_then_fate
        started = asyncio.get_running_loop().time()
        assert await run.settle(timeout=60, poll=20)
        waited = asyncio.get_running_loop().time() - started
        assert len(drains) == 1 and waited < 10, (len(drains), waited)


@pytest.mark.parametrize("point", ["after_effect", "before_ack", "delivered"])
async def test_crash_between_effect_and_ack_loses_nothing_and_doubles_nothing(point):
    hooks = CrashOncePer("ledger", point)
    spec = load_pipeline(PIPELINE)
    items = payments_workload(40, seed=7, invalid_rate=0, high_risk_rate=0.1)
    async with PipelineRun(spec, store="memory", hooks=hooks, restart_delay=0.01) as run:
        await feed(run, items)
        assert await run.settle(timeout=30)
        summary = await run.summary()
    assert hooks.crashes > 0
    assert summary.lost == 0 and summary.duplicate_effects == 0 and summary.ledger_balanced
    posts = [e for e in run.recorder.events if e["kind"] == "effect"
             and e["effect"] == "ledger.post"]
    applied = [e for e in posts if e["applied"]]
    assert len(applied) == summary.completed  # one posting per completed payment
    if point != "delivered":
        # the redelivery found the effect already applied
        assert any(not e["applied"] for e in posts)
    assert any(e["kind"] == "agent_crash" for e in run.recorder.events)


async def test_timeout_uses_the_declared_fallback(registry):
    slow = Agent("eta", "1", consumes=["payment.accepted@1"], emits=["payment.risk_assessed@1"],
                 timeout=0.05)

    @slow.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        await asyncio.sleep(1)

    @slow.fallback
    async def cached(ctx: Context, msg: Envelope) -> None:
        ctx.emit("payment.risk_assessed", {**{k: msg.payload[k] for k in
                                              ("payment_id", "amount_cents", "currency",
                                               "customer_id", "merchant_id")},
                                           "risk_level": "medium"})

    async with AgentProbe(slow, registry) as probe:
        result = await probe.send(accepted())
    assert result.outcome == "acked"
    assert result.emitted[0].payload["risk_level"] == "medium"
    assert any(e["kind"] == "fallback" for e in result.events)


async def test_failing_handler_is_retried_then_dead_lettered_by_the_delivery_limit(registry):
    broken = Agent("broken", "1", consumes=["payment.accepted@1"], emits=[])

    @broken.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        raise RuntimeError("boom")

    spec = load_pipeline(PIPELINE)
    spec.agents["fraud"].agent = broken
    async with PipelineRun(spec, store="memory") as run:
        env = Envelope.ingress(type="payment.requested", schema_version=1,
                               payload={**PAYMENT}, correlation_id="pay-x")
        await run.send(env)
        assert await run.settle(timeout=10)
    dead = [e for e in run.recorder.events if e["kind"] == "dead_letter"]
    assert dead and dead[0]["reason"] == "delivery_limit"
    delivers = [e for e in run.recorder.events if e["kind"] == "deliver" and e["agent"] == "broken"]
    assert len(delivers) == spec.delivery_limit + 1


@pytest.mark.parametrize("agent_name", ["orchestrator", "fraud", "authorization", "ledger",
                                        "notification"])
async def test_every_payments_agent_dead_letters_each_kind_of_bad_input(registry, agent_name):
    agent = load_pipeline(PIPELINE).agents[agent_name].agent
    ref = agent.consumes[0]
    good = Envelope.ingress(type=ref.type, schema_version=ref.version, payload={"x": 1},
                            correlation_id="pay-9")
    bad_inputs = {
        "not_json": b'{"envelope":1,"message_id":',
        "unknown_version": good.to_bytes().replace(b'"schema_version":1', b'"schema_version":3'),
        "schema_invalid": good.to_bytes(),  # payload misses every required field
        "too_large": good.with_payload({"blob": "y" * 1_100_000}).to_bytes(),
    }
    async with AgentProbe(agent, registry) as probe:
        for reason, body in bad_inputs.items():
            result = await probe.send(body, headers={"x-correlation-id": "pay-9"})
            assert [d.reason for d in result.dead_letters] == [reason]
            assert result.dead_letters[0].correlation_id == "pay-9"
            assert not result.emitted and not result.effects
        assert not probe.runtime.crashed


async def test_an_emission_over_the_envelope_limit_is_not_forwarded(registry):
    bloated = Agent("bloated", "1", consumes=["payment.accepted@1"],
                    emits=["payment.risk_assessed@1"])

    @bloated.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        fields = {k: msg.payload[k] for k in ("payment_id", "amount_cents", "currency",
                                              "customer_id", "merchant_id")}
        # valid against the schema (extra properties allowed), but too big to be an envelope
        ctx.emit("payment.risk_assessed", {**fields, "risk_level": "low",
                                           "debug": "z" * 1_100_000})

    async with AgentProbe(bloated, registry) as probe:
        result = await probe.send(accepted())
    assert not result.emitted
    (dl,) = result.dead_letters
    assert dl.reason == "emitted_invalid" and "envelope limit" in dl.detail


async def test_the_probe_waits_for_the_settling_event_and_times_out_on_a_hang(registry):
    release = asyncio.Event()
    agent = Agent("holder", "1", consumes=["payment.accepted@1"],
                  emits=["payment.risk_assessed@1"], timeout=30)

    @agent.handler
    async def hold(ctx: Context, msg: Envelope) -> None:
        if msg.payload["customer_id"] == "c-hold":
            await release.wait()  # held until the test lets it go

    async with AgentProbe(agent, registry, timeout=0.3) as probe:
        loop = asyncio.get_running_loop()
        started = loop.time()
        held = await probe.send(accepted(customer_id="c-hold"))
        assert not held.settled and held.outcome == "timeout"
        assert 0.25 <= loop.time() - started < 10
        release.set()
        quick = await probe.send(accepted())  # settles on an ack, far before the timeout
        assert quick.settled and quick.outcome == "acked"
        assert not probe.recorder.listeners  # nothing left listening after each input


async def test_a_committed_hold_counts_fresh_effects_not_skipped_duplicates(registry, tmp_path):
    """``HARNESS_TEST_HOLD_AT`` point ``committed`` holds the n-th effect the store committed: a
    redelivered duplicate (skipped by the store) commits nothing, so a test that kills the held
    process always cuts a fresh effect (a crash gap), never one recorded earlier."""
    from harness.agents.hold import Hold

    bank = Agent("bank", "1.0.0", consumes=["payment.accepted@1"])

    @bank.handler
    async def post(ctx: Context, msg: Envelope) -> None:
        await ctx.effect("bank.post", {"payment_id": msg.payload["payment_id"]})

    marker = tmp_path / "held"
    first = accepted()
    second = Envelope.ingress(type="payment.accepted", schema_version=1,
                              payload={**PAYMENT, "payment_id": "pay-2"}, correlation_id="pay-2")
    async with AgentProbe(bank, registry) as probe:
        probe.runtime._hold = Hold("bank", "committed", after=2, marker=str(marker))
        assert (await probe.send(first)).outcome == "acked"
        again = await asyncio.wait_for(probe.send(first), 30)  # the duplicate: not held
        assert again.outcome == "acked" and not marker.exists()
        held = asyncio.create_task(probe.send(second))
        for _ in range(300):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the second fresh effect was not held"
        held.cancel()
    effects = [e for e in probe.recorder.events if e["kind"] == "effect"]
    assert [e["applied"] for e in effects] == [True, False]
