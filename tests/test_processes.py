"""Agents as separate OS processes on RabbitMQ: SIGKILL the ledger mid-run, lose and double
nothing after the supervisor restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter

import pytest

from harness.demo import default_pipeline_path
from harness.pipeline import load_pipeline
from harness.processes import ProcessRun
from harness.testing import require_service
from harness.workload import payments_workload

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.timeout(90)


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


async def test_sigkill_of_the_ledger_process_loses_nothing_and_doubles_nothing(store_url,
                                                                               tmp_path):
    spec = load_pipeline(default_pipeline_path())
    items = payments_workload(240, 11, run_tag=f"kill{uuid.uuid4().hex[:6]}-")
    run = ProcessRun(spec, broker=AMQP_URL, store=store_url, run_dir=tmp_path, seed=11)
    async with run:
        def ledger_effects() -> int:
            run.pump()
            return sum(1 for e in run.recorder.events
                       if e["kind"] == "effect" and e.get("agent") == "ledger")

        async def feed() -> None:
            for item in items:
                if item.envelope is not None:
                    await run.send(item.envelope, expect=item.expect)
                else:
                    await run.send(item.body, correlation_id=item.correlation_id, valid=False)
                await asyncio.sleep(0.004)

        feeder = asyncio.create_task(feed())
        await _until(lambda: ledger_effects() >= 20, 30, "the ledger to post 20 payments")
        killed_pid = run.kill("ledger", signal.SIGKILL)
        await _until(lambda: run.processes["ledger"].starts == 2, 15, "the ledger's restart")
        await feeder
        assert await run.settle(timeout=45), "did not settle"
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
    redelivered = [e for e in events if e["kind"] == "deliver" and e.get("agent") == "ledger"
                   and e.get("delivery_count", 1) > 1]
    assert redelivered, "the kill landed while the ledger held nothing in flight"
