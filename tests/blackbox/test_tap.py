"""The tap on a black box's broker link: AMQP frames in, deliver/ack/nack/emit records out;
with them the latency and causal checkers judge a black box as they judge an SDK agent."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.blackbox.tap import PROTOCOL_HEADER, TapConnection
from harness.cli import main
from tests.blackbox.conftest import ROOT

SCRIPT = ROOT / "tests" / "data" / "misbehaving_agent.py"


def _short(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


def _method(channel: int, cls: int, method: int, args: bytes) -> bytes:
    return _frame(1, channel, struct.pack(">HH", cls, method) + args)


def _deliver(
    channel: int, tag: int, body: bytes, *, count: int | None = None, redelivered: bool = False
) -> bytes:
    args = _short("ctag") + struct.pack(">QB", tag, int(redelivered)) + _short("ex") + _short("t.x")
    if count is None:
        props = struct.pack(">H", 0x8000) + _short("application/json")
    else:
        table = (
            _short("x-delivery-count")
            + b"l"
            + struct.pack(">q", count)
            + _short("x-other")
            + b"S"
            + struct.pack(">I", 3)
            + b"abc"
        )
        props = (
            struct.pack(">H", 0x8000 | 0x2000)
            + _short("application/json")
            + struct.pack(">I", len(table))
            + table
        )
    header = struct.pack(">HHQ", 60, 0, len(body)) + props
    half = len(body) // 2  # the body in two frames
    return (
        _method(channel, 60, 60, args)
        + _frame(2, channel, header)
        + _frame(3, channel, body[:half])
        + _frame(3, channel, body[half:])
    )


def _settle(channel: int, method: int, tag: int, flags: int) -> bytes:
    return _method(channel, 60, method, struct.pack(">QB", tag, flags))


def _envelope(mid: str) -> bytes:
    return json.dumps(
        {"message_id": mid, "correlation_id": "c-" + mid, "type": "t.x", "schema_version": 1}
    ).encode()


def _tap() -> tuple[TapConnection, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    conn = TapConnection("agent", "q", lambda kind, **f: events.append({"kind": kind, **f}))
    conn.from_client(PROTOCOL_HEADER)
    return conn, events


def test_the_tap_records_deliveries_acks_and_rejections_from_frames_in_any_chunking():
    conn, events = _tap()
    stream = (
        _deliver(1, 1, _envelope("m1"))
        + _deliver(1, 2, _envelope("m2"), count=2)
        + _deliver(1, 3, _envelope("m3"), redelivered=True)
    )
    for i in range(0, len(stream), 7):  # frames split across reads
        conn.from_server(stream[i : i + 7])
    delivered = [e for e in events if e["kind"] == "deliver"]
    assert [(e["message_id"], e["delivery_count"]) for e in delivered] == [
        ("m1", 1),
        ("m2", 3),
        ("m3", 2),
    ]
    assert all(e["queue"] == "q" and e["agent"] == "agent" for e in delivered)
    conn.from_client(_settle(1, 80, 2, 1))  # ack multiple up to tag 2
    conn.from_client(_settle(1, 90, 3, 0))  # reject, no requeue
    settled = [(e["kind"], e["message_id"]) for e in events if e["kind"] != "deliver"]
    assert settled == [("ack", "m1"), ("ack", "m2"), ("nack", "m3")]
    nack = events[-1]
    assert nack["requeue"] is False and nack["rejected"] is True
    assert all(isinstance(e["latency_ms"], float) for e in events if e["kind"] == "ack")
    conn.from_client(_settle(1, 80, 1, 0))  # already settled: nothing more
    assert len(events) == 6


def test_the_tap_records_what_the_agent_publishes_and_forgets_a_closed_channel():
    conn, events = _tap()
    conn.from_server(_deliver(2, 1, _envelope("in")))
    conn.from_client(_method(2, 20, 40, struct.pack(">H", 200) + _short("bye") + b"\0" * 4))
    conn.from_client(_settle(2, 80, 1, 0))  # the broker requeued it with the channel
    assert [e["kind"] for e in events] == ["deliver"]
    publish = _method(3, 60, 40, struct.pack(">H", 0) + _short("ex") + _short("t.x") + b"\0")
    body = _envelope("out")
    header = _frame(2, 3, struct.pack(">HHQH", 60, 0, len(body), 0))
    conn.from_client(publish + header + _frame(3, 3, body))
    assert events[-1]["kind"] == "emit" and events[-1]["message_id"] == "out"


def test_bytes_that_are_not_amqp_are_relayed_without_records():
    conn, events = _tap()
    conn.from_server(b"\x01\x00\x01\x00\x00\x00\x04abcdX")  # no frame end
    assert conn.broken and events == []
    conn.from_server(_deliver(1, 1, _envelope("m1")))
    assert events == []


def _pipeline(tmp: Path, mode: str) -> Path:
    (tmp / "pipeline.yaml").write_text(f"""
name: tapped-{mode}
registry: {ROOT / "contracts"}
ingress: payment.requested@1
outcomes:
  notification.sent: {{field: kind, values: {{receipt: completed, decline: declined}}}}
agents:
  notifier:
    command: ["{sys.executable}", "{SCRIPT}", {mode}]
    consumes: [payment.requested@1]
    emits: [notification.sent@1]
    budget: {{p99_ms: 10000}}
""")
    exp = tmp / "exp.yaml"
    exp.write_text(f"""
title: tapped {mode}
pipeline: pipeline.yaml
broker: amqp://guest:guest@127.0.0.1:5672/
workload: {{generator: payments, count: 12, rate: 0, mix: {{valid: 1.0}}}}
steady-state-hypothesis: {{probes: [no_loss, causal, latency]}}
method: [{{fault: duplicate, target: notifier, probability: 0.5}}]
settle_timeout: 20
""")
    return exp


def _chaos(tmp: Path, mode: str, capsys) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    code = main(["chaos", "run", str(_pipeline(tmp, mode)), "--out", str(tmp / "out"), "--json"])
    result = json.loads(capsys.readouterr().out)
    events = [json.loads(line) for line in (tmp / "out" / "history.jsonl").read_text().splitlines()]
    return code, result, events


@pytest.mark.timeout(120)
def test_a_tapped_black_box_is_judged_by_latency_and_causal_like_an_sdk_agent(
    services, tmp_path, capsys
):
    code, result, events = _chaos(tmp_path, "notify", capsys)
    verdicts = result["verdicts"]
    assert code == 0, {k: v for k, v in verdicts.items() if v["valid"] is not True}
    start = events[0]
    assert start["tapped"] == ["notifier"]
    tapped = [e for e in events if e.get("source") == "tap"]
    acks = [e for e in tapped if e["kind"] == "ack"]
    delivers = [e for e in tapped if e["kind"] == "deliver"]
    assert len(delivers) >= 12 and len(acks) == len(delivers)  # duplicates delivered too
    assert verdicts["latency"]["counts"]["agents"]["notifier"]["n"] == len(acks)
    causal = verdicts["causal"]["counts"]
    assert causal["published"] >= 12 and not causal.get("unobserved")


@pytest.mark.timeout(120)
def test_a_black_box_that_acks_before_it_publishes_is_caught_by_causal(services, tmp_path, capsys):
    code, result, _ = _chaos(tmp_path, "ack_first", capsys)
    causal = result["verdicts"]["causal"]
    assert code == 1 and causal["valid"] is False, causal
    assert causal["counts"]["published_after_settle"] >= 12
    assert result["verdicts"]["no_loss"]["valid"] is True  # nothing crashed: only causal sees it
