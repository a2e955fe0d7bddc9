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


def _bb_history(cause_routed: bool, effect_routed: bool) -> list[dict]:
    start = {"index": 0, "time": 0, "kind": "run_start",
             "black_boxes": {"ledger": "h1.ledger"}}
    events = [start,
              {"index": 1, "time": 0.1, "kind": "ingress", "correlation_id": "c1",
               "message_id": "m0"},
              {"index": 2, "time": 0.2, "kind": "publish", "queue": "h1.auth", "producer":
               "workload", "message_id": "m0", "correlation_id": "c1", "causation_id": None},
              {"index": 3, "time": 0.3, "kind": "deliver", "queue": "h1.auth",
               "agent": "authorization", "message_id": "m0", "correlation_id": "c1",
               "causation_id": None},
              {"index": 4, "time": 0.4, "kind": "publish", "queue": "h1.notification",
               "producer": "ledger", "message_id": "m2", "correlation_id": "c1",
               "causation_id": "m1", "type": "ledger.posted"},
              {"index": 5, "time": 0.5, "kind": "effect", "agent": "ledger", "applied": True,
               "key": "k", "effect": "ledger.post",
               "correlation_id": "c1" if effect_routed else "c9", "source": "probe"},
              {"index": 6, "time": 0.6, "kind": "run_end"}]
    if cause_routed:  # recorded after the black box's own publish: order must not matter
        events.insert(5, {"index": 3, "time": 0.45, "kind": "publish", "queue": "h1.ledger",
                          "producer": "authorization", "message_id": "m1",
                          "correlation_id": "c1", "causation_id": "m0"})
    return events


def test_causal_judges_black_boxes_by_what_was_put_on_their_queue():
    from harness.checkers import causal

    ok = causal.check(_bb_history(True, True), {})
    assert ok.valid is True and ok.counts["unobserved"] == 2, ok
    bad = causal.check(_bb_history(False, False), {})
    assert bad.valid is False
    assert bad.counts["cause_not_delivered"] == 1 and bad.counts["effect_without_delivery"] == 1


def _tapped_history(ack_before_emit: bool) -> list[dict]:
    """A tapped black box (ledger): its delivery, ack and emit come from the tap."""
    ids = {"agent": "ledger", "source": "tap", "message_id": "m1", "correlation_id": "c1",
           "causation_id": "m0"}
    out = {"message_id": "m2", "correlation_id": "c1", "causation_id": "m1",
           "type": "ledger.posted"}
    emit = {"kind": "emit", "agent": "ledger", "source": "tap", **out}
    ack = {"kind": "ack", "queue": "h1.ledger", "latency_ms": 250.0, **ids}
    events = [{"kind": "run_start", "black_boxes": {"ledger": "h1.ledger"}, "tapped": ["ledger"],
               "budgets": {"ledger": {"p99_ms": 100}}},
              {"kind": "ingress", "correlation_id": "c1", "message_id": "m0"},
              {"kind": "deliver", "queue": "h1.auth", "agent": "authorization",
               "message_id": "m0", "correlation_id": "c1", "causation_id": None},
              {"kind": "publish", "queue": "h1.ledger", "producer": "authorization",
               "message_id": "m1", "correlation_id": "c1", "causation_id": "m0"},
              {"kind": "deliver", "queue": "h1.ledger", "delivery_count": 1, **ids},
              *([ack, emit] if ack_before_emit else [emit, ack]),
              # the router's record of the same message, after the ack: not judged again
              {"kind": "publish", "queue": "h1.notification", "producer": "ledger", **out},
              {"kind": "run_end"}]
    return [{"index": i, "time": i / 10, **e} for i, e in enumerate(events)]


def test_causal_judges_a_tapped_black_box_by_its_emits_and_acks():
    from harness.checkers import causal

    ok = causal.check(_tapped_history(False), {})
    assert ok.valid is True and ok.counts["published"] == 2, ok  # authorization's and ledger's
    assert not ok.counts.get("unobserved")
    bad = causal.check(_tapped_history(True), {})
    assert bad.valid is False and bad.counts["published_after_settle"] == 1, bad.counts


def test_latency_judges_a_tapped_black_box_by_its_acks():
    verdict = latency.check(_tapped_history(False), {})
    assert verdict.valid is False and verdict.counts["agents"]["ledger"]["n"] == 1
    assert latency.check(_tapped_history(False), {"budgets": {"ledger": {"p99_ms": 500}}}
                         ).valid is True


def test_sdk_only_faults_on_a_black_box_are_refused_with_processes_too(tmp_path):
    from harness.chaos.experiment import load_experiment
    from harness.chaos.runner import prepare
    from harness.errors import PipelineError

    pipeline = _pipeline(tmp_path, """    command: [node, x.js]
    consumes: [payment.accepted@1]
    emits: [payment.risk_assessed@1]""")
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""title: t
pipeline: {pipeline}
workload: {{generator: payments, count: 2}}
method: [{{fault: crash_before_ack, target: fraud, probability: 0.5}}]
""")
    with pytest.raises(PipelineError, match="needs the harness SDK inside the agent"):
        prepare(load_experiment(exp), broker="amqp://guest:guest@127.0.0.1:5672/",
                processes=True, out_dir=tmp_path / "out")
