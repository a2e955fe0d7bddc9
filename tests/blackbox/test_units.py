"""Black-box pieces that need no broker: pipeline settings, latency on unobserved black boxes."""

from __future__ import annotations

import pytest

from harness.checkers import latency
from harness.errors import InputError
from harness.pipeline import load_pipeline
from tests.blackbox.conftest import ROOT

AGENTS = ROOT / "examples" / "payments" / "agents.py"


def _pipeline(tmp_path, fraud: str):
    p = tmp_path / "p.yaml"
    p.write_text(f"""name: t
registry: {ROOT / "contracts"}
ingress: payment.requested@1
agents:
  orchestrator: {{handler: "{AGENTS}:orchestrator"}}
  fraud:
{fraud}
""")
    return p


def test_black_box_settings_are_read(tmp_path):
    spec = load_pipeline(_pipeline(tmp_path, """    command: [node, x.js]
    consumes: [payment.accepted@1]
    database: postgres
    env: {MODE: "{queue}"}
    probes:
      effects: {sql: "SELECT 1"}
      ledger: {redis: "led:*"}"""))
    fraud = spec.agents["fraud"]
    assert fraud.is_black_box and not fraud.blackbox.external and fraud.blackbox.database
    assert [(p.kind, p.source) for p in fraud.blackbox.probes] == [("effects", "sql"),
                                                                   ("ledger", "redis")]
    ext = load_pipeline(_pipeline(tmp_path, """    external: {exchange: fraud.events}
    queue: fraud.in
    consumes: [payment.accepted@1]""")).agents["fraud"]
    assert ext.blackbox.external and ext.blackbox.exchange == "fraud.events"
    assert ext.command is None and ext.agent is None


@pytest.mark.parametrize(("fraud", "needle"), [
    ("    command: [x]\n    probes: {effects: {sql: 'SELECT 1'}}", "needs 'database: postgres'"),
    ("    command: [x]\n    probes: {effects: {sql: 'a', url: 'b'}}", "probes"),
    ("    command: [x]\n    probes: {outbox: {sql: 'a'}}", "probes"),
    ("    command: [x]\n    external: true", "exactly one of"),
])
def test_bad_black_box_settings_name_the_field(tmp_path, fraud, needle):
    with pytest.raises(InputError) as info:
        load_pipeline(_pipeline(tmp_path, fraud))
    assert needle in str(info.value) and "agents.fraud" in str(info.value)


def test_latency_budget_of_a_black_box_is_unknown_never_valid():
    events = [{"index": 0, "time": 0, "kind": "run_start", "black_boxes": ["ledger"],
               "budgets": {"ledger": {"p99_ms": 100}}},
              {"index": 1, "time": 0.1, "kind": "run_end"}]
    verdict = latency.check(events, {})
    assert verdict.valid == "unknown" and "ledger" in (verdict.error or "")
    events[0]["budgets"] = {}
    assert latency.check(events, {}).valid is True
