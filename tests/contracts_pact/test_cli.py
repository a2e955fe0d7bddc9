"""``harness contracts verify`` and the broker commands: results, JSON, and bad input (exit 2)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = "chaos/incidents/risk-score-rename.yaml"
PIPE = str(ROOT / "examples" / "payments" / "pipeline.yaml")
VERIFY = ["contracts", "verify", "--provider", "fraud", "--pipeline", PIPE]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_verify_fraud_passes(capfd):
    assert main(VERIFY) == 0
    out = capfd.readouterr().out
    assert "OK: 2 interactions verified" in out


@pytest.mark.parametrize("how", [["--variant", "fraud-v2"], ["--incident", INCIDENT],
                                 ["--agent", "examples/payments/agents.py:fraud_v2"]])
def test_verify_fraud_v2_names_authorization_and_risk_level(capfd, how, monkeypatch):
    from harness.contracts.registry import default_registry_path

    monkeypatch.chdir(default_registry_path().parent)
    assert main([*VERIFY, *how]) == 1
    out = capfd.readouterr().out
    assert "authorization" in out and "risk_level" in out
    assert "FAILED" in out


def test_verify_json_is_the_only_stdout(capfd):
    assert main([*VERIFY, "--variant", "fraud-v2",
                 "--json"]) == 1
    data = json.loads(capfd.readouterr().out)
    assert data["ok"] is False and data["failed"] == 2
    [first] = [m for m in data["outcomes"][0]["mismatches"] if m["path"] == "$.risk_level"]
    assert data["outcomes"][0]["consumer"] == "authorization"
    assert first["expected"] == "present" and first["actual"] == "missing"


def test_unhandled_provider_state_fails_verification(tmp_path, capfd):
    from harness.contracts.registry import default_registry_path

    pact = json.loads((default_registry_path() / "pacts" / "authorization-fraud.json")
                      .read_text())
    pact["interactions"][0]["providerStates"] = [{"name": "nobody handles this"}]
    (tmp_path / "authorization-fraud.json").write_text(json.dumps(pact))
    assert main([*VERIFY, "--pacts", str(tmp_path),
                 "--json"]) == 1
    data = json.loads(capfd.readouterr().out)
    [bad] = [o for o in data["outcomes"] if not o["ok"]]
    assert "nobody handles this" in bad["mismatches"][0]["detail"]
    assert any("nobody handles this" in n for n in data["notices"])


def _error_line(capfd) -> str:
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1, captured.err
    return lines[0]


def test_malformed_pact_file_exits_2_naming_file_and_position(tmp_path, capfd):
    bad = tmp_path / "authorization-fraud.json"
    bad.write_text('{"consumer": {"name": "authorization"},\n  "provider": ')
    assert main([*VERIFY, "--pacts", str(tmp_path)]) == 2
    line = _error_line(capfd)
    assert str(bad) in line and "line 2 column" in line


def test_pact_without_consumer_exits_2(tmp_path, capfd):
    (tmp_path / "x.json").write_text('{"provider": {"name": "fraud"}, "interactions": []}')
    assert main([*VERIFY, "--pacts", str(tmp_path)]) == 2
    assert "consumer" in _error_line(capfd)


def test_unknown_provider_exits_2_listing_known_ones(capfd):
    assert main(["contracts", "verify", "--provider", "frod", "--pipeline", PIPE]) == 2
    line = _error_line(capfd)
    assert "'frod'" in line and "fraud" in line and "authorization" in line
    assert "__line" not in line


def test_verify_uses_the_working_folders_pipeline_else_says_it_needs_one(capfd, monkeypatch,
                                                                          tmp_path):
    monkeypatch.chdir(ROOT / "examples" / "payments")
    assert main(["contracts", "verify", "--provider", "fraud"]) == 0
    assert "OK: 2 interactions verified" in capfd.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert main(["contracts", "verify", "--provider", "fraud"]) == 2
    line = _error_line(capfd)
    assert line.endswith(f"--pipeline: needs a pipeline: give --pipeline FILE (no pipeline.yaml "
                         f"in {tmp_path})"), line


def test_unreachable_broker_exits_2_naming_the_url(capfd):
    url = f"http://127.0.0.1:{_free_port()}"
    assert main([*VERIFY, "--broker", url]) == 2
    assert url in _error_line(capfd)
    assert main(["can-i-deploy", "--broker", url, "--pacticipant", "fraud", "--version", "1",
                 "--to-environment", "prod"]) == 2
    assert url in _error_line(capfd)
    assert main(["contracts", "publish", "--broker", url, "--pipeline", PIPE,
                 "--consumer-version", "1"]) == 2
    assert url in _error_line(capfd)


def test_unknown_environment_exits_2(capfd):
    from tests.contracts_pact.broker_double import BrokerStub

    with BrokerStub() as stub:
        assert main(["contracts", "publish", "--broker", stub.url, "--pipeline", PIPE,
                     "--consumer", "authorization", "--consumer-version", "1"]) == 0
        capfd.readouterr()
        code = main(["contracts", "record-deployment", "--broker", stub.url, "--pacticipant",
                     "authorization", "--version", "1", "--environment", "prod"])
        assert code == 2
        assert "Environment prod does not exist" in _error_line(capfd)
        code = main(["contracts", "record-deployment", "--broker", stub.url, "--pacticipant",
                     "authorization", "--version", "9", "--environment", "prod"])
        assert code == 2
        assert "/pacticipants/authorization/versions/9" in _error_line(capfd)
