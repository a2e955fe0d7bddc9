"""Pipeline files load, and broken ones give one error naming the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import InputError
from harness.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"


def test_payments_pipeline_loads_with_routing():
    spec = load_pipeline(PIPELINE)
    assert spec.topology == "orchestrated"
    assert spec.queues_for("payment.requested") == ["orchestrator"]
    assert spec.queues_for("payment.declined") == ["notification"]
    assert spec.agents["fraud"].timeout == 0.5
    assert spec.agents["fraud"].params == {"high_risk_cents": 500000}


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "agents.py").write_text((PIPELINE.parent / "agents.py").read_text())
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("REG", str(ROOT / "contracts")))
    return path


GOOD = """name: t
registry: REG
ingress: payment.requested@1
agents:
  orchestrator:
    handler: agents.py:orchestrator
  fraud:
    handler: agents.py:fraud
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.replace("handler: agents.py:fraud", "handler: agents.py:nope"),
         "p.yaml:8: agents.fraud.handler"),
        (GOOD.replace("  fraud:\n", "  fraud:\n    timeout_ms: -3\n"),
         "p.yaml:8: agents.fraud.timeout_ms"),
        (GOOD.replace("  fraud:\n", "  fraud:\n    colour: red\n"),
         "agents.fraud.colour"),
        (GOOD.replace("ingress: payment.requested@1", "ingress: payment.requested"),
         "p.yaml:3: ingress"),
        (GOOD.replace("agents:\n", "agents: [\n"), "p.yaml:line"),
        (GOOD.replace("registry: REG", "registry: /nonexistent"), "registry"),
        (GOOD.replace("  fraud:\n    handler: agents.py:fraud\n", "  fraud: {}\n"),
         "exactly one of 'handler', 'command' or 'external'"),
    ],
)
def test_broken_pipeline_files_name_the_place(tmp_path, text, needle):
    with pytest.raises(InputError) as info:
        load_pipeline(write(tmp_path, text))
    assert needle in str(info.value)
    assert str(tmp_path / "p.yaml") in str(info.value)


def test_cli_reports_a_broken_pipeline_in_one_line_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("handler: agents.py:fraud", "handler: agents.py:nope"))
    code = main(["demo", "--pipeline", str(path), "--transactions", "5", "--seed", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "agents.fraud.handler" in err and "Traceback" not in err
