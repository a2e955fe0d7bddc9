"""Incidents from evidence: history, OTLP traces, dead letters; a RabbitMQ history replayed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from harness.chaos.analyze import write_run_files
from harness.chaos.experiment import load_experiment
from harness.chaos.runner import run_experiment
from harness.cli import main
from harness.history import read_history
from harness.sim import simulate_experiment
from harness.sim.dlq import from_dlq, peek_amqp
from harness.sim.evidence import from_history, write_incident
from harness.testing import require_service

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "chaos" / "zoo"
AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _run(path: Path, out: Path, **changes) -> None:
    exp = load_experiment(path)
    if changes:
        exp = dataclasses.replace(exp, **changes)
    result = simulate_experiment(exp, out_dir=out)
    write_run_files(result.to_dict(), read_history(out / "history.jsonl").events, out,
                    suite="t")


def _same_incident(a: Path, b: Path) -> None:
    da, db = yaml.safe_load(a.read_text()), yaml.safe_load(b.read_text())
    for key in ("title", "description"):  # these name the source file
        da.pop(key), db.pop(key)
    assert da == db


def test_a_history_becomes_an_incident_that_reproduces_its_verdict_and_otlp_round_trips(
        tmp_path, capsys):
    run = tmp_path / "run"
    _run(ZOO / "ledger-no-dedup.yaml", run, count=20)
    assert main(["incident", "from-history", str(run / "history.jsonl"), "--out",
                 str(tmp_path / "h.yaml"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["inputs"] == 20 and made["faults"] >= 3
    assert made["expect"] == {"valid": False, "caught_by": ["exactly_once"]}
    incident = load_experiment(tmp_path / "h.yaml")
    assert incident.simulate and all(f.message for f in incident.faults)
    replayed = simulate_experiment(incident, out_dir=tmp_path / "replay")
    assert replayed.expectation_met  # the recorded verdict, reproduced

    assert main(["export", "otlp", str(run / "history.jsonl"), "--out",
                 str(tmp_path / "t.jsonl"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["traces"] == 20 and stats["spans"] > 20
    doc = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
    assert span["startTimeUnixNano"].isdigit()
    assert main(["incident", "from-otlp", str(tmp_path / "t.jsonl"), "--out",
                 str(tmp_path / "o.yaml"), "--json"]) == 0
    capsys.readouterr()
    _same_incident(tmp_path / "h.yaml", tmp_path / "o.yaml")


def test_dead_letters_replay_to_their_agents_and_the_fixed_variant_clears_them(tmp_path):
    run = tmp_path / "run"
    _run(ZOO / "risk-score-rename.yaml", run, count=12)
    with (tmp_path / "dlq.jsonl").open("w") as f:
        for e in read_history(run / "history.jsonl").events:
            if e["kind"] == "dead_letter" and e.get("reason") == "emitted_invalid":
                f.write(json.dumps({"body": e["body"], "reason": e["reason"]}) + "\n")
    incident = from_dlq(str(tmp_path / "dlq.jsonl"), pipeline=ROOT / "examples" / "payments"
                        / "pipeline.yaml", variants={"fraud": "zoo.py:fraud_risk_score"})
    path = write_incident(incident, tmp_path / "dlq.yaml")
    broken = simulate_experiment(load_experiment(path), out_dir=tmp_path / "a")
    assert broken.expectation_met and broken.verdicts["outcomes"].valid is False
    fixed = simulate_experiment(dataclasses.replace(load_experiment(path), variants={}),
                                out_dir=tmp_path / "b")
    assert fixed.valid is True


def test_a_rabbitmq_history_reproduces_its_verdict_under_simulation(tmp_path):
    require_service("rabbitmq")
    exp = dataclasses.replace(load_experiment(ZOO / "ledger-no-dedup.yaml"), count=15)
    real = asyncio.run(run_experiment(exp, broker=AMQP_URL, out_dir=tmp_path / "amqp"))
    assert real.valid is False
    incident = from_history(tmp_path / "amqp" / "history.jsonl")
    # latency is a wall-clock verdict (left out); the bug's own checker is kept
    assert incident.expect["caught_by"] == ["exactly_once"] and len(incident.inputs) == 15
    assert "latency" not in incident.probes
    path = write_incident(incident, tmp_path / "incident.yaml")
    replayed = simulate_experiment(load_experiment(path), out_dir=tmp_path / "sim")
    assert replayed.expectation_met, replayed.verdicts


def test_a_rabbitmq_dead_letter_queue_is_read_without_consuming_it():
    require_service("rabbitmq")
    import aio_pika

    queue = f"sim-test-{uuid.uuid4().hex[:8]}.dlq"

    async def go() -> tuple[int, int]:
        conn = await aio_pika.connect_robust(AMQP_URL)
        try:
            ch = await conn.channel()
            q = await ch.declare_queue(queue, auto_delete=False)
            for i in range(3):
                await ch.default_exchange.publish(
                    aio_pika.Message(b'{"n": %d}' % i, headers={"x-harness-reason": "x"}),
                    routing_key=queue)
            seen = await peek_amqp(AMQP_URL, queue)
            again = await peek_amqp(AMQP_URL, queue)  # still all there: none was consumed
            await q.delete(if_unused=False, if_empty=False)
            return len(seen), len(again)
        finally:
            await conn.close()

    seen, left = asyncio.run(go())
    assert seen == 3 and left == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"body": "eyJhIjoxfQ==", "body": "e30="}', "duplicate key 'body'"),
        (b'{"a": 1}', "needs a string 'body'"),
        (b'[1, 2]', "needs a string 'body'"),
        (b'{"body": "eyJhIjoxfQ==", "headers": [1, 2]}', "'headers' must be an object"),
        (b'{"body": "not base64!"}', "'body' is not base64"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["duplicate_key", "no_body", "not_object", "bad_headers", "bad_base64", "deep"],
)
def test_a_bad_dead_letter_file_is_one_line_naming_its_line(tmp_path, capsys, line, message):
    dlq = tmp_path / "dlq.jsonl"
    dlq.write_bytes(b'{"body": "eyJhIjoxfQ=="}\n' + line + b"\n")
    pipeline = str(ROOT / "examples" / "payments" / "pipeline.yaml")
    out = tmp_path / "incident.yaml"
    argv = ["incident", "from-dlq", str(dlq), "--pipeline", pipeline, "--out", str(out)]
    assert main(argv) == 2
    text = capsys.readouterr().err
    (err,) = [line for line in text.splitlines() if "error:" in line]
    assert f"{dlq}:2" in err and message in err and "Traceback" not in text
    assert not out.exists()
