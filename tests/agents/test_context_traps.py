"""The agent API without traps: a forgotten await fails the delivery naming the call, emitted is
read-only and forward publishes prebuilt envelopes, an undeclared emission dead-letters at once,
ctx.call falls back on httpx and declared errors and applies dependency faults itself."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness import Agent, Context, Dependency, Envelope
from harness.agents.probe import AgentProbe
from harness.contracts.registry import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]
PAYMENT = {"payment_id": "pay-1", "amount_cents": 1200, "currency": "EUR",
           "customer_id": "c-1", "merchant_id": "m-1", "card_last4": "4242"}
ASSESSED = {**{k: PAYMENT[k] for k in ("payment_id", "amount_cents", "currency", "customer_id",
                                       "merchant_id")}, "risk_level": "low", "reasons": [],
            "memo_summary": "n/a"}


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(ROOT / "contracts")


def accepted() -> Envelope:
    return Envelope.ingress(type="payment.accepted", schema_version=1, payload=PAYMENT,
                            correlation_id="pay-1")


def fraud_like(name: str) -> Agent:
    return Agent(name, "1.0.0", consumes=["payment.accepted@1"],
                 emits=["payment.risk_assessed@1"])


async def test_a_forgotten_await_fails_the_delivery_naming_the_call(registry):
    agent = fraud_like("forgetful")

    @agent.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        ctx.outcome("completed")  # BUG: not awaited

    async with AgentProbe(agent, registry) as probe:
        result = await probe.send(accepted())
    assert result.outcome == "dead_lettered"
    (dl,) = result.dead_letters
    assert dl.reason == "not_awaited"
    assert "ctx.outcome('completed')" in dl.detail and "await" in dl.detail
    assert not result.effects  # nothing was applied behind the handler's back


async def test_emitted_is_read_only_and_forward_publishes_a_prebuilt_envelope(registry):
    agent = fraud_like("forwarder")
    seen: list[object] = []

    @agent.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        try:
            ctx.emitted.append(msg)  # type: ignore[attr-defined]
        except AttributeError as exc:
            seen.append(exc)
        env = msg.child(type="payment.risk_assessed", schema_version=1, payload=ASSESSED,
                        producer=agent.producer, index=0)
        ctx.forward(env)

    async with AgentProbe(agent, registry) as probe:
        result = await probe.send(accepted())
    assert seen and isinstance(seen[0], AttributeError)
    assert result.outcome == "acked"
    assert [e.type for e in result.emitted] == ["payment.risk_assessed"]
    assert result.emitted[0].correlation_id == "pay-1"


async def test_an_undeclared_emission_is_dead_lettered_at_once(registry):
    agent = fraud_like("undeclared")

    @agent.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        ctx.emit("payment.authorized", {"anything": 1})

    async with AgentProbe(agent, registry) as probe:
        result = await probe.send(accepted())
    (dl,) = result.dead_letters
    assert dl.reason == "emitted_invalid" and "payment.authorized" in dl.detail
    delivers = [e for e in result.events if e["kind"] == "deliver"]
    assert len(delivers) == 1  # not requeued to the delivery limit


class QuotaExceeded(Exception):
    """A dependency's own error, declared in the pipeline (``errors:``)."""


class DownHooks:
    """Hooks saying the dependency ``model`` is down (what a dependency_down window does)."""

    async def at(self, point, runtime, envelope) -> None:
        return None

    def dependency_delay(self, dependency: str, agent: str | None = None) -> float | None:
        return float("inf") if dependency == "model" else None


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), QuotaExceeded("quota"),
                                   "fault"])
async def test_ctx_call_falls_back_on_httpx_declared_errors_and_dependency_faults(
        registry, error):
    agent = fraud_like("caller")
    calls: list[str] = []

    async def model() -> str:
        calls.append("called")
        if isinstance(error, Exception):
            raise error
        return "high"

    @agent.handler
    async def handle(ctx: Context, msg: Envelope) -> None:
        level = await ctx.call("model", model)
        ctx.emit("payment.risk_assessed", {**ASSESSED, "risk_level": level})

    deps = {"model": Dependency("model", 0.5, lambda ctx: "medium", (QuotaExceeded,))}
    hooks = DownHooks() if error == "fault" else None
    async with AgentProbe(agent, registry, dependencies=deps, hooks=hooks) as probe:
        result = await probe.send(accepted())
    assert result.outcome == "acked"
    assert result.emitted[0].payload["risk_level"] == "medium"  # the fallback's value
    fallbacks = [e for e in result.events if e["kind"] == "fallback"]
    assert len(fallbacks) == 1 and fallbacks[0]["dependency"] == "model"
    assert calls == ([] if error == "fault" else ["called"])  # a down dependency is not reached
