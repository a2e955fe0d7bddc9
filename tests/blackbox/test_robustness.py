"""Black boxes that misbehave end the run within its timeouts with a clear verdict or exit 2:
one that never acks, one that crashes on start, one that publishes garbage, one that never
connects."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from tests.blackbox.conftest import ROOT

AGENTS = ROOT / "examples" / "payments" / "agents.py"
SCRIPT = ROOT / "tests" / "data" / "misbehaving_agent.py"


def _experiment(tmp: Path, broker: str, mode: str) -> Path:
    (tmp / "pipeline.yaml").write_text(f"""
name: misbehaving-{mode}
registry: {ROOT / "contracts"}
ingress: payment.requested@1
store: memory
agents:
  orchestrator: {{handler: "{AGENTS}:orchestrator"}}
  fraud:
    command: ["{sys.executable}", "{SCRIPT}", {mode}]
    consumes: [payment.accepted@1]
    emits: [payment.risk_assessed@1]
    start_timeout_s: 4
  authorization: {{handler: "{AGENTS}:authorization"}}
  ledger: {{handler: "{AGENTS}:ledger"}}
  notification: {{handler: "{AGENTS}:notification"}}
""")
    exp = tmp / "exp.yaml"
    exp.write_text(f"""
title: {mode}
pipeline: pipeline.yaml
broker: {broker}
workload: {{generator: payments, count: 6, rate: 0, mix: {{valid: 1.0}}}}
steady-state-hypothesis: {{probes: [no_loss, wire]}}
method: []
settle_timeout: 5
""")
    return exp


def _run(tmp: Path, broker: str, mode: str, capsys) -> tuple[int, float, str, str]:
    exp = _experiment(tmp, broker, mode)
    t0 = time.monotonic()
    code = main(["chaos", "run", str(exp), "--out", str(tmp / "out"), "--json"])
    out, err = capsys.readouterr()
    return code, time.monotonic() - t0, out, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["crash_on_start", "never_connect"])
def test_an_agent_that_does_not_come_up_is_exit_2_with_one_line(services, tmp_path, capsys,
                                                                  mode):
    code, elapsed, _, err = _run(tmp_path, services, mode, capsys)
    assert code == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "agent fraud" in lines[0], err
    assert "Traceback" not in err
    assert ("crashed on start" in lines[0]) if mode == "crash_on_start" else \
        ("did not connect" in lines[0] and "start_timeout_s" in lines[0])
    assert elapsed < 60


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("mode", "checker", "problem"), [
    ("never_ack", "no_loss", "lost"),
    ("garbage", "wire", "malformed"),
])
def test_an_agent_that_misbehaves_gets_an_invalid_verdict_in_time(services, tmp_path, capsys,
                                                                  mode, checker, problem):
    code, elapsed, out, err = _run(tmp_path, services, mode, capsys)
    assert code == 1, err
    result = json.loads(out)
    verdict = result["verdicts"][checker]
    assert verdict["valid"] is False, verdict
    assert problem in json.dumps(verdict), verdict
    assert elapsed < 60


@pytest.mark.timeout(120)
def test_a_pipeline_of_black_boxes_only_ends_its_correlations_by_declared_outcomes(
        services, tmp_path, capsys):
    (tmp_path / "pipeline.yaml").write_text(f"""
name: only-black-boxes
registry: {ROOT / "contracts"}
ingress: payment.requested@1
outcomes:
  notification.sent: {{field: kind, values: {{receipt: completed, decline: declined}}}}
agents:
  notifier:
    command: ["{sys.executable}", "{SCRIPT}", notify]
    consumes: [payment.requested@1]
    emits: [notification.sent@1]
""")
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: black boxes only
pipeline: pipeline.yaml
broker: {services}
workload: {{generator: payments, count: 12, rate: 0, mix: {{valid: 1.0}}}}
steady-state-hypothesis: {{probes: [no_loss, outcomes, trace, wire, dead_letters]}}
method: [{{fault: duplicate, target: notifier, probability: 0.5}}]
settle_timeout: 20
""")
    code = main(["chaos", "run", str(exp), "--out", str(tmp_path / "out"), "--json"])
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert code == 0, (err, {k: v for k, v in result["verdicts"].items() if v["valid"] is not True})
    assert result["verdicts"]["no_loss"]["counts"]["completed"] >= 1
    assert result["summary"]["completed"] == result["verdicts"]["no_loss"]["counts"]["completed"]


@pytest.mark.timeout(120)
def test_a_consumer_that_publishes_garbage_fails_its_pact_check(services, tmp_path):
    from harness.blackbox.consumer import check_consumer
    from harness.pipeline import load_pipeline

    (tmp_path / "pipeline.yaml").write_text(f"""
name: garbage-ledger
registry: {ROOT / "contracts"}
ingress: payment.authorized@1
agents:
  ledger:
    command: ["{sys.executable}", "{SCRIPT}", garbage]
    consumes: [payment.authorized@1]
    emits: [ledger.posted@1]
    env: {{GARBAGE_TYPE: ledger.posted}}
""")
    spec = load_pipeline(tmp_path / "pipeline.yaml")
    results = check_consumer(spec, "ledger", ROOT / "contracts" / "pacts", broker=services,
                             timeout=3)
    assert results and not any(r.ok for r in results)
    assert "not an envelope" in " ".join(results[0].problems), results[0].problems
