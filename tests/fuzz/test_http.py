"""Schemathesis against OpenAPI-described HTTP endpoints (the rides pricing API)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.fuzz.http import fuzz_http

ROOT = Path(__file__).resolve().parents[2]
PRICING = f"{ROOT / 'examples/rides/pricing_api.py'}:app"
BROKEN = f"{ROOT / 'tests/fuzz/broken_pricing_api.py'}:app"


def test_pricing_api_passes_schemathesis() -> None:
    import threading

    report = fuzz_http(PRICING, examples=100, seed_=3)
    # Schemathesis's ASGI event-loop thread is stopped: a later agent's budget can be split
    # with a forked child (harness.forking wants one thread)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("asyncio-portal")]
    assert report.ok, [f.problems for f in report.failures]
    assert set(report.operations) == {"POST /quote", "GET /health"}
    assert report.statuses.get("200") and report.statuses.get("422")
    assert not any(code.startswith("5") for code in report.statuses)


def test_broken_api_fails_with_reproducers() -> None:
    report = fuzz_http(BROKEN, examples=100, seed_=3)
    problems = [p for f in report.failures for p in f.problems]
    assert any("violates schema" in p for p in problems), problems
    assert any("server error" in p for p in problems), problems
    for failure in report.failures:
        namespace: dict = {}
        exec(compile(failure.reproducer, "<reproducer>", "exec"), namespace)
        test = next(v for k, v in namespace.items() if k.startswith("test_http_fuzz_"))
        with pytest.raises(BaseException):  # noqa: B017 - a check failure or the app's error
            test()


def test_pipeline_agent_with_http_endpoint(tmp_path: Path, capsys) -> None:
    pipeline = _pipeline_with_http(tmp_path, PRICING)
    assert main(["fuzz", "--pipeline", str(pipeline), "--agent", "fraud", "--examples", "30",
                 "--seed", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["http"][0]["agent"] == "fraud" and data["http"][0]["requests"]


def test_the_documented_command_fuzzes_the_rides_pricing_endpoint_over_http(
        capsys: pytest.CaptureFixture[str]) -> None:
    """docs/fuzz.md: the rides pipeline declares pricing's ASGI app, so `harness fuzz` covers it."""
    code = main(["fuzz", "--pipeline", str(ROOT / "examples/rides/pipeline.yaml"),
                 "--agent", "pricing", "--examples", "15", "--seed", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True
    assert [h["agent"] for h in report["http"]] == ["pricing"]
    assert "POST /quote" in report["http"][0]["operations"]


def _pipeline_with_http(tmp_path: Path, app: str) -> Path:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"name: rides-pricing\nregistry: {ROOT / 'contracts'}\ningress: payment.accepted@1\n"
        f"agents:\n  fraud:\n    handler: {ROOT / 'examples/payments/agents.py'}:fraud\n"
        f"    http: {app}\n"
        f"  ledger:\n    handler: {ROOT / 'examples/payments/agents.py'}:ledger\n")
    return pipeline


def test_the_fixture_fails_on_a_broken_endpoint_with_its_reproducer(tmp_path: Path) -> None:
    """assert_fuzz_ok (harness_fuzz) names a failing HTTP operation and pastes its reproducer;
    http=False leaves the endpoint out (the agent itself is sound)."""
    from harness.fuzz.fixtures import assert_fuzz_ok

    pipeline = _pipeline_with_http(tmp_path, BROKEN)
    with pytest.raises(AssertionError) as failed:
        assert_fuzz_ok(pipeline, agent="fraud", examples=40, seed=3)
    text = str(failed.value)
    assert "fraud over HTTP" in text and "POST /quote" in text, text
    assert "def test_http_fuzz_" in text, text
    assert_fuzz_ok(pipeline, agent="fraud", examples=40, seed=3, http=False)


def test_no_http_skips_the_endpoints(tmp_path: Path, capsys) -> None:
    pipeline = _pipeline_with_http(tmp_path, BROKEN)
    assert main(["fuzz", "--pipeline", str(pipeline), "--agent", "fraud", "--examples", "20",
                 "--seed", "2", "--no-http", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["http"] == []
