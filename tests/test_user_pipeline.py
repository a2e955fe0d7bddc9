"""A pipeline written from the docs alone (not an example, no workload generator): a library
lends books. It runs under `harness run`, under `chaos run` with duplicates and crashes after
the effect (in-process) and with `--processes` where a lending process is killed with SIGKILL;
a broken variant whose effect key is drawn fresh per delivery is caught by exactly_once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.testing import require_service

AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

pytestmark = pytest.mark.timeout(400)

LOAN = {"loan_id": {"type": "string", "minLength": 1, "maxLength": 40},
        "isbn": {"type": "string", "pattern": "^[0-9]{3}-[0-9]{4}$"},
        "member": {"type": "string", "minLength": 1, "maxLength": 40},
        "days": {"type": "integer", "minimum": 1, "maximum": 60}}

PIPELINE = """\
name: library
registry: contracts
ingress: loan.requested@1
agents:
  desk:
    handler: agents.py:desk
  lending:
    handler: agents.py:lending
"""

AGENTS = '''\
import uuid

from harness import Agent, Context, Envelope

desk = Agent("desk", "1.0.0", consumes=["loan.requested@1"], emits=["loan.approved@1"])


@desk.handler
async def check(ctx: Context, msg: Envelope) -> None:
    if msg.payload["days"] > 30:
        await ctx.outcome("declined", "too long")
        return
    ctx.emit("loan.approved", msg.payload)


lending = Agent("lending", "1.0.0", consumes=["loan.approved@1"], emits=[])


@lending.handler
async def lend(ctx: Context, msg: Envelope) -> None:
    await ctx.effect("lend", {"isbn": msg.payload["isbn"]})
    await ctx.outcome("completed")


lending_fresh_key = lending.variant(version="broken")


@lending_fresh_key.handler
async def lend_again(ctx: Context, msg: Envelope) -> None:
    await ctx.effect("lend", {"isbn": msg.payload["isbn"]}, key=uuid.uuid4().hex)  # BUG
    await ctx.outcome("completed")
'''

EXPERIMENT = """\
title: loans are lent once
pipeline: pipeline.yaml
seed: 3
workload: {count: 30, rate: 100}
steady-state-hypothesis:
  probes: [no_loss, outcomes, exactly_once, trace, wire, dead_letters]
method:
  - {fault: duplicate, target: lending, probability: 0.3}
  - {fault: crash_after_effect, target: lending, probability: 0.2, max: 2}
  - {fault: kill, target: lending, at: 0.15}
settle_timeout: 120      # agent processes restart slowly on a loaded machine
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for name, props in (("loan.requested", LOAN), ("loan.approved", LOAN)):
        folder = tmp_path / "contracts" / name
        folder.mkdir(parents=True)
        (folder / "v1.json").write_text(json.dumps(
            {"type": "object", "properties": props, "required": sorted(props),
             "additionalProperties": False}))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "agents.py").write_text(AGENTS)
    (tmp_path / "loans.yaml").write_text(EXPERIMENT)
    (tmp_path / "broken.yaml").write_text(EXPERIMENT.replace(
        "pipeline: pipeline.yaml\n",
        "pipeline: pipeline.yaml\nvariants: {lending: agents.py:lending_fresh_key}\n")
        + "expect: {valid: false, caught_by: [exactly_once]}\n")
    return tmp_path


def _chaos(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["chaos", "run", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _kinds(result: dict) -> set[str]:
    return {f.split(":")[1].split("@")[0] for f in result["fired"]}


def test_user_pipeline_runs_and_survives_duplicates_and_crashes(library, capsys):
    assert main(["run", str(library / "pipeline.yaml"), "--transactions", "30", "--seed", "1",
                 "--out", str(library / "run"), "--json"]) == 0
    capsys.readouterr()
    code, ok = _chaos(capsys, str(library / "loans.yaml"), "--out", str(library / "c1"))
    assert code == 0, ok["verdicts"]
    assert {"duplicate", "crash_after_effect"} <= _kinds(ok)
    code, broken = _chaos(capsys, str(library / "broken.yaml"), "--out", str(library / "c2"))
    assert code == 1 and broken["expectation_met"]
    assert broken["verdicts"]["exactly_once"]["counts"]["duplicate_effect"] > 0


@pytest.mark.amqp
def test_user_pipeline_with_agents_as_processes_killed_with_sigkill(library, capsys):
    require_service("rabbitmq")
    code, ok = _chaos(capsys, str(library / "loans.yaml"), "--processes", "--broker", AMQP_URL,
                      "--out", str(library / "p1"))
    assert code == 0, ok["verdicts"]
    events = [json.loads(line) for line in (library / "p1" / "history.jsonl").open()]
    kills = [e for e in events if e["kind"] == "agent_crash" and e.get("supervisor")
             and e.get("agent") == "lending"]
    assert any(e["exit_code"] == -9 for e in kills), "no lending process died of SIGKILL"
    assert {"duplicate", "crash_after_effect"} <= _kinds(ok)
