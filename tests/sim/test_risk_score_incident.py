"""docs/incidents.md end to end: record the rename, import, reproduce, shrink, show the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.chaos.analyze import write_run_files
from harness.chaos.experiment import load_experiment
from harness.cli import main
from harness.history import read_history
from harness.sim import simulate_experiment

ROOT = Path(__file__).resolve().parents[2]


def _files(result, run: Path) -> None:
    write_run_files(result.to_dict(), read_history(run / "history.jsonl").events, run,
                    suite="risk")


def test_the_risk_score_incident_from_evidence_to_one_payment_and_its_fix(tmp_path, capsys):
    incident = load_experiment(ROOT / "chaos" / "incidents" / "risk-score-rename.yaml")
    recorded = tmp_path / "recorded"  # what production recorded while fraud 2.0.0 was live
    _files(simulate_experiment(dataclasses.replace(incident, count=20), out_dir=recorded),
           recorded)

    out = tmp_path / "risk-score-recorded.yaml"
    assert main(["incident", "from-history", str(recorded / "history.jsonl"), "--out",
                 str(out)]) == 0
    assert main(["chaos", "run", str(out), "--out", str(tmp_path / "replayed")]) == 1
    replayed = read_history(tmp_path / "replayed" / "history.jsonl").events
    assert any(e["kind"] == "dead_letter" and e.get("reason") == "emitted_invalid"
               for e in replayed)

    assert main(["chaos", "shrink", str(tmp_path / "replayed"), "--checker", "wire"]) == 0
    shrunk = load_experiment(tmp_path / "replayed" / "shrunk" / "shrunk.yaml")
    assert len(shrunk.inputs or []) == 1 and shrunk.faults == []

    capsys.readouterr()
    assert main(["chaos", "run", str(shrunk.path), "--out", str(tmp_path / "s1")]) == 1
    assert main(["chaos", "run", str(shrunk.path), "--variant", "fraud=", "--out",
                 str(tmp_path / "s2")]) == 0  # the fixed fraud: the one payment completes
    assert main(["chaos", "run", str(out), "--variant", "fraud=", "--out",
                 str(tmp_path / "all")]) == 0
