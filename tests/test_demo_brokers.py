"""The payments demo end to end on memory and on RabbitMQ, with and without injected crashes."""

from __future__ import annotations

import os

import pytest

from harness.agents.runtime import AgentCrash
from harness.demo import default_pipeline_path, run_demo
from harness.history import Recorder
from harness.pipeline import load_pipeline
from harness.run import PipelineRun
from harness.testing import require_service
from harness.workload import payments_workload

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["memory", "amqp"])
def broker_url(request) -> str:
    if request.param == "amqp":
        require_service("rabbitmq")
        return AMQP_URL
    return "memory"


async def test_demo_loses_nothing_doubles_nothing_and_balances(broker_url, tmp_path):
    summary = await run_demo(broker=broker_url, transactions=120, seed=7, out=tmp_path)
    assert summary.transactions == 120
    assert summary.lost == 0, summary.lost_ids
    assert summary.duplicate_effects == 0
    assert summary.ledger_balanced
    assert summary.completed + summary.declined + summary.dead_lettered == 120
    # every invalid kind was dead-lettered with its machine-readable reason
    expected = {i.correlation_id for i in payments_workload(120, 7) if i.expect == "dead_lettered"}
    assert summary.dead_lettered == len(expected) >= 4
    assert set(summary.dead_letter_reasons) <= {"not_json", "not_utf8", "schema_invalid",
                                                "too_large", "unknown_version"}
    assert sum(summary.dead_letter_reasons.values()) == summary.dead_lettered


class CrashAfterEffect:
    """Crash the ledger agent between its effect and its ack on every 7th payment, once each."""

    def __init__(self) -> None:
        self.crashed: set[str] = set()

    async def at(self, point, runtime, envelope) -> None:
        if (point == "after_effect" and runtime.agent.name == "ledger" and envelope is not None
                and envelope.correlation_id not in self.crashed
                and int(envelope.correlation_id[-6:]) % 7 == 0):
            self.crashed.add(envelope.correlation_id)
            raise AgentCrash("injected: after effect, before ack")


async def test_crash_between_effect_and_ack_loses_and_doubles_nothing(broker_url, tmp_path):
    spec = load_pipeline(default_pipeline_path())
    hooks = CrashAfterEffect()
    items = payments_workload(80, 3, run_tag="crash-")
    with Recorder(tmp_path / "history.jsonl") as rec:
        async with PipelineRun(spec, broker=broker_url, recorder=rec, run_dir=tmp_path,
                               hooks=hooks, seed=3) as run:
            for item in items:
                if item.envelope is not None:
                    await run.send(item.envelope, expect=item.expect)
                else:
                    await run.send(item.body, correlation_id=item.correlation_id, valid=False)
            assert await run.settle(timeout=40)
            summary = await run.summary()
            effects = await run.store.effects()
    assert hooks.crashed, "no crash was injected"
    assert any(e["kind"] == "agent_crash" for e in rec.events)
    assert summary.lost == 0, summary.lost_ids
    assert summary.duplicate_effects == 0
    assert summary.ledger_balanced
    posts = [e["correlation_id"] for e in effects if e["effect"] == "ledger.post"]
    assert len(posts) == len(set(posts)) == summary.completed
    # the crashed payments were redelivered and their retried effect was skipped, not re-applied
    skipped = {e["correlation_id"] for e in rec.events
               if e["kind"] == "effect" and e.get("effect") == "ledger.post" and not e["applied"]}
    assert hooks.crashed <= skipped
