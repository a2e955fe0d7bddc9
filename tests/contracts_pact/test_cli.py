"""``harness contracts verify`` and the broker commands: results, JSON, and bad input (exit 2)."""

from __future__ import annotations

import json
import socket

import pytest

from harness.cli import main

INCIDENT = "chaos/incidents/risk-score-rename.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_verify_fraud_passes(capfd):
    assert main(["contracts", "verify", "--provider", "fraud"]) == 0
    out = capfd.readouterr().out
    assert "OK: 2 interactions verified" in out


@pytest.mark.parametrize("how", [["--variant", "fraud-v2"], ["--incident", INCIDENT],
                                 ["--agent", "examples/payments/agents.py:fraud_v2"]])
def test_verify_fraud_v2_names_authorization_and_risk_level(capfd, how, monkeypatch):
    from harness.contracts.registry import default_registry_path

    monkeypatch.chdir(default_registry_path().parent)
    assert main(["contracts", "verify", "--provider", "fraud", *how]) == 1
    out = capfd.readouterr().out
    assert "authorization" in out and "risk_level" in out
    assert "FAILED" in out


def test_verify_json_is_the_only_stdout(capfd):
    assert main(["contracts", "verify", "--provider", "fraud", "--variant", "fraud-v2",
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
    assert main(["contracts", "verify", "--provider", "fraud", "--pacts", str(tmp_path),
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
    assert main(["contracts", "verify", "--provider", "fraud", "--pacts", str(tmp_path)]) == 2
    line = _error_line(capfd)
    assert str(bad) in line and "line 2 column" in line


def test_pact_without_consumer_exits_2(tmp_path, capfd):
    (tmp_path / "x.json").write_text('{"provider": {"name": "fraud"}, "interactions": []}')
    assert main(["contracts", "verify", "--provider", "fraud", "--pacts", str(tmp_path)]) == 2
    assert "consumer" in _error_line(capfd)


def test_unknown_provider_exits_2_listing_known_ones(capfd):
    assert main(["contracts", "verify", "--provider", "frod"]) == 2
    line = _error_line(capfd)
    assert "'frod'" in line and "fraud" in line and "authorization" in line


def test_unreachable_broker_exits_2_naming_the_url(capfd):
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["contracts", "verify", "--provider", "fraud", "--broker", url]) == 2
    assert url in _error_line(capfd)
    assert main(["can-i-deploy", "--broker", url, "--pacticipant", "fraud", "--version", "1",
                 "--to-environment", "prod"]) == 2
    assert url in _error_line(capfd)
    assert main(["contracts", "publish", "--broker", url, "--consumer-version", "1"]) == 2
    assert url in _error_line(capfd)


def test_unknown_environment_exits_2(capfd):
    from harness.contracts.broker_stub import BrokerStub

    with BrokerStub() as stub:
        code = main(["contracts", "record-deployment", "--broker", stub.url, "--pacticipant",
                     "fraud", "--version", "1", "--environment", "prod"])
    assert code == 2
    assert "prod" in _error_line(capfd)
