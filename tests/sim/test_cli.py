"""chaos run --simulate, replay of a simulated run, and the refusals (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_simulated_run_replays_to_the_same_history(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["chaos", "run", str(ROOT / "chaos" / "zoo" / "shared-state.yaml"),
                 "--simulate", "--out", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["expectation_met"]
    sim = data["simulation"]
    assert sim["virtual_s"] > 0 and sim["wall_s"] > 0 and sim["ratio"] == round(
        sim["virtual_s"] / sim["wall_s"], 2)
    assert main(["replay", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["same_history"] is True and report["same_verdicts"] is True


def test_simulate_refuses_network_faults_with_one_line(tmp_path, capsys):
    code = main(["chaos", "run", str(ROOT / "chaos" / "rides-eta-dependency-network.yaml"),
                 "--simulate", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "network faults" in lines[0]
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_a_bad_variant_is_one_clear_error(capsys):
    code = main(["chaos", "run", str(ROOT / "chaos" / "zoo" / "shared-state.yaml"),
                 "--simulate", "--variant", "fraud"])
    assert code == 2 and "--variant" in capsys.readouterr().err
