"""Agents as separate OS processes on RabbitMQ: SIGKILL the ledger mid-run, lose and double
nothing after the supervisor restarts it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from harness.demo import default_pipeline_path
from harness.pipeline import load_pipeline
from harness.processes import ProcessRun, run_processes
from harness.testing import require_service
from harness.workload import payments_workload

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = [pytest.mark.timeout(180), pytest.mark.serial]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    require_service("rabbitmq")
    if request.param == "postgresql":
        require_service("postgresql")
        return PG_URL
    return f"sqlite:///{tmp_path / 'effects.sqlite3'}"


async def _until(cond, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _held_ledger_pipeline(tmp_path: Path) -> Path:
    """The payments pipeline with tests/data/held_ledger.py as its ledger (a long timeout, so
    the runtime never gives up on the held delivery before the kill)."""
    root = default_pipeline_path().parent
    held = Path(__file__).parent / "data" / "held_ledger.py"
    path = tmp_path / "pipeline.yaml"
    agents = root / "agents.py"
    path.write_text(f"""
name: payments
topology: orchestrated
registry: {(root / '../../contracts').resolve()}
ingress: payment.requested@1
store: sqlite
delivery_limit: 5
agents:
  orchestrator: {{handler: {agents}:orchestrator, timeout_ms: 1000, concurrency: 16}}
  fraud: {{handler: {agents}:fraud, timeout_ms: 500, params: {{high_risk_cents: 500000}}}}
  authorization: {{handler: {agents}:authorization, timeout_ms: 500}}
  ledger: {{handler: {held}:ledger, timeout_ms: 600000}}
  notification: {{handler: {agents}:notification, timeout_ms: 500}}
""")
    return path


async def test_sigkill_of_the_ledger_process_loses_nothing_and_doubles_nothing(
        store_url, tmp_path, monkeypatch):
    """The ledger applies its 20th effect and is held there (output unpublished, delivery
    unacked); the test sees the effect in the history and SIGKILLs it while held."""
    marker = tmp_path / "held"
    monkeypatch.setenv("HARNESS_TEST_HOLD", str(marker))
    monkeypatch.setenv("HARNESS_TEST_HOLD_AFTER", "20")
    spec = load_pipeline(_held_ledger_pipeline(tmp_path))
    items = payments_workload(240, 11, run_tag=f"kill{uuid.uuid4().hex[:6]}-")
    run = ProcessRun(spec, broker=AMQP_URL, store=store_url, run_dir=tmp_path, seed=11)
    async with run:
        async def feed() -> None:
            for item in items:
                if item.envelope is not None:
                    await run.send(item.envelope, expect=item.expect)
                else:
                    await run.send(item.body, correlation_id=item.correlation_id, valid=False)
                await asyncio.sleep(0.004)

        def held_effect_recorded() -> bool:
            run.pump()
            if not marker.exists() or not marker.read_text():
                return False
            return any(e["kind"] == "effect" and e.get("agent") == "ledger"
                       and e.get("correlation_id") == marker.read_text()
                       for e in run.recorder.events)

        feeder = asyncio.create_task(feed())
        await _until(held_effect_recorded, 60, "the ledger to hold its 20th delivery")
        held_cid = marker.read_text()
        killed_pid = run.kill("ledger", signal.SIGKILL)
        await _until(lambda: run.processes["ledger"].starts == 2, 30, "the ledger's restart")
        await feeder
        assert await run.settle(timeout=60), "did not settle"
        summary = await run.summary()
        effects = await run.store.effects()
        events = list(run.recorder.events)
    if store_url.startswith("postgresql"):
        from harness.agents.pgstore import PostgresStore

        leftover = PostgresStore(store_url, namespace=run.prefix.strip("."), pool_size=1)
        await leftover.drop()
        await leftover.close()
    crashes = [e for e in events if e["kind"] == "agent_crash" and e.get("supervisor")]
    assert [(e["agent"], e["pid"], e["exit_code"]) for e in crashes] == \
        [("ledger", killed_pid, -signal.SIGKILL)]
    assert summary.transactions == 240
    assert summary.lost == 0, summary.lost_ids
    assert summary.duplicate_effects == 0
    assert summary.ledger_balanced
    assert summary.completed + summary.declined + summary.dead_lettered == 240
    # each completed payment's ledger effect is in the store exactly once
    posts = Counter(e["correlation_id"] for e in effects if e["effect"] == "ledger.post")
    assert set(posts.values()) == {1}
    completed = {e["correlation_id"] for e in effects if e["effect"] == "outcome:completed"}
    assert set(posts) == completed and len(completed) == summary.completed
    # the held delivery came back to the restarted ledger, which did not apply it again
    redelivered = [e for e in events if e["kind"] == "deliver" and e.get("agent") == "ledger"
                   and e.get("correlation_id") == held_cid and e.get("delivery_count", 1) > 1]
    assert redelivered, "the held delivery was not redelivered after the kill"
    assert posts[held_cid] == 1


async def test_processes_run_a_command_agent_under_the_black_box_contract(tmp_path):
    """``harness run --processes`` starts a ``command:`` agent as every run does (its own
    exchange, the harness's routing, the one supervisor): the agent knows no queue names."""
    require_service("rabbitmq")
    root = default_pipeline_path().parent
    script = Path(__file__).parent / "data" / "blackbox_notifier.py"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"""
name: payments-bb
topology: orchestrated
registry: {(root / '../../contracts').resolve()}
ingress: payment.requested@1
store: sqlite
delivery_limit: 5
agents:
  orchestrator: {{handler: {root / 'agents.py'}:orchestrator, concurrency: 16}}
  fraud: {{handler: {root / 'agents.py'}:fraud}}
  authorization: {{handler: {root / 'agents.py'}:authorization}}
  ledger: {{handler: {root / 'agents.py'}:ledger}}
  notification:
    command: [{sys.executable}, {script}]
    consumes: [ledger.posted@1, payment.declined@1]
    emits: [notification.sent@1]
""")
    summary = await run_processes(pipeline, broker=AMQP_URL, transactions=60, seed=2,
                                  out=tmp_path / "run", timeout=40)
    assert summary.lost == 0, summary.lost_ids
    assert summary.duplicate_effects == 0 and summary.ledger_balanced
    assert summary.completed + summary.declined + summary.dead_lettered == 60
    assert summary.completed > 0
    events = [json.loads(line) for line in
              (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["kind"] == "agent_start" and e["agent"] == "notification")
    assert start.get("black_box") is True and start.get("supervisor") is True
    routed = [e for e in events if e["kind"] == "publish" and e.get("producer") == "notification"]
    assert routed and all(e.get("body") for e in routed)
