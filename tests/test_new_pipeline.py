"""`harness new pipeline DIR` writes a pipeline that passes every command unchanged: run, chaos
run (its experiment valid, its zoo variant caught), fuzz, registry check, pytest and contracts
verify, run from inside the folder as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(300)


def _json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_scaffolded_pipeline_passes_every_command_unchanged(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "shop"
    code, made = _json(capsys, ["new", "pipeline", str(folder)])
    assert code == 0 and len(made["files"]) >= 14
    monkeypatch.chdir(folder)

    code, run = _json(capsys, ["run", "pipeline.yaml", "--transactions", "40", "--seed", "2",
                               "--out", str(tmp_path / "run")])
    assert code == 0, run
    assert run["pipeline"] == "orders" and run["completed"] > 0

    code, chaos = _json(capsys, ["chaos", "run", "chaos/orders-faults.yaml",
                                 "--out", str(tmp_path / "c1")])
    assert code == 0, chaos["verdicts"]
    assert chaos["fired"], "no fault fired"
    code, zoo = _json(capsys, ["chaos", "run", "chaos/zoo-fresh-key.yaml",
                               "--out", str(tmp_path / "c2")])
    assert code == 1 and zoo["expectation_met"]
    assert zoo["verdicts"]["exactly_once"]["valid"] is False

    code, fuzz = _json(capsys, ["fuzz", "--pipeline", "pipeline.yaml", "--examples", "10",
                                "--seed", "1"])
    assert code == 0, fuzz
    code, reg = _json(capsys, ["registry", "check", "contracts"])
    assert code == 0 and reg["compatible"]
    code, verify = _json(capsys, ["contracts", "verify", "--provider", "inventory"])
    assert code == 0, verify

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_new_pipeline_refuses_to_overwrite(tmp_path, capsys):
    assert main(["new", "pipeline", str(tmp_path)]) == 0
    before = (tmp_path / "agents.py").read_text()
    capsys.readouterr()
    assert main(["new", "pipeline", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "agents.py").read_text() == before
