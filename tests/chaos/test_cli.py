"""``harness chaos run``, ``harness check`` and ``harness replay`` end to end (memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "chaos" / "payments-process-faults.yaml"
ZOO = ROOT / "chaos" / "zoo" / "ledger-no-dedup.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["chaos", "run", str(EXP), "--seed", "5", "--out", str(out)]) == 0
    return out


def test_chaos_run_writes_every_file(run_dir: Path):
    for name in ("history.jsonl", "results.json", "junit.xml", "report.html"):
        assert (run_dir / name).stat().st_size > 0, name
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True and results["seed"] == 5
    assert set(results["verdicts"]) >= {"no_loss", "exactly_once", "trace", "wire",
                                        "dead_letters", "latency"}
    junit = (run_dir / "junit.xml").read_text()
    assert "<testsuite" in junit and 'failures="0"' in junit


def test_report_is_self_contained(run_dir: Path):
    page = (run_dir / "report.html").read_text()
    assert "<svg" in page and "Latency per agent" in page
    assert "<script" not in page and 'src="http' not in page and "<link" not in page


def test_zoo_run_exits_1_and_report_has_sequence_diagrams(tmp_path: Path, capsys):
    assert main(["chaos", "run", str(ZOO), "--seed", "3", "--out", str(tmp_path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["expectation_met"] is True
    assert data["verdicts"]["exactly_once"]["valid"] is False
    page = (tmp_path / "report.html").read_text()
    assert "sequence diagram of" in page and "FAULT" in page
    assert 'failures="' in (tmp_path / "junit.xml").read_text()


def test_check_reproduces_the_stored_verdicts(run_dir: Path, capsys):
    assert main(["check", str(run_dir / "history.jsonl"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    stored = json.loads((run_dir / "results.json").read_text())["verdicts"]
    assert {k: v["valid"] for k, v in data["verdicts"].items() if k in stored} == \
        {k: v["valid"] for k, v in stored.items()}


def _corrupt(run_dir: Path, tmp_path: Path, fn) -> Path:
    lines = (run_dir / "history.jsonl").read_text().splitlines(keepends=True)
    bad = tmp_path / "h.jsonl"
    bad.write_text("".join(fn(lines)))
    return bad


@pytest.mark.parametrize("name, corrupt, code", [
    ("truncated", lambda ls: ["".join(ls)[: len("".join(ls)) // 2]], 2),
    ("cut_last_line", lambda ls: [*ls[:-1], ls[-1][:10]], 2),
    ("lines_deleted", lambda ls: ls[:40] + ls[60:], None),
    ("not_json_midway", lambda ls: [*ls[:10], "{oops\n", *ls[10:]], 2),
    ("unknown_kind", lambda ls: [*ls[:10], '{"index":1,"time":0,"kind":"zap"}\n', *ls[10:]], 2),
    ("wrong_types", lambda ls: [x.replace('"applied":true', '"applied":"yes"') for x in ls],
     None),
    ("empty", lambda ls: [], 2),
    ("binary", lambda ls: ["\udcff"], 2),
])
def test_check_on_a_damaged_history_never_crashes_and_is_never_valid(
        run_dir: Path, tmp_path: Path, capsys, name, corrupt, code):
    if name == "binary":
        bad = tmp_path / "h.jsonl"
        bad.write_bytes(b"\xff\xfe\x00garbage")
    else:
        bad = _corrupt(run_dir, tmp_path, corrupt)
    rc = main(["check", str(bad)])
    out = capsys.readouterr()
    assert rc != 0, out.out
    if code is not None:
        assert rc == code
    assert "Traceback" not in out.err


def test_check_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_experiment_exits_2_with_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"pipeline: {ROOT / 'examples/payments/pipeline.yaml'}\n"
                   "method:\n  - fault: meteor\n")
    assert main(["chaos", "run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "meteor" in err


def test_replay_gives_the_same_plan_and_verdicts(run_dir: Path, capsys):
    assert main(["replay", str(run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["same_plan"] and data["same_verdicts"]
