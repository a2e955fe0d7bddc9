"""harness chaos shrink: ddmin, and a zoo failure shrunk to its few inputs and faults."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.cli import main
from harness.sim import simulate_experiment
from harness.sim.shrink import ddmin, shrink_run

ROOT = Path(__file__).resolve().parents[2]


def test_ddmin_finds_a_single_culprit_and_a_pair():
    calls: list[int] = []

    def needs_7(xs: list[int]) -> bool:
        calls.append(1)
        return 7 in xs

    assert ddmin(list(range(40)), needs_7) == [7]
    assert len(calls) < 40  # logarithmic-ish, not one run per element
    assert sorted(ddmin(list(range(40)), lambda xs: 3 in xs and 31 in xs)) == [3, 31]
    assert ddmin(list(range(5)), lambda xs: True) == []  # needs nothing at all


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"shrunk_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_zoo_failure_shrinks_to_one_input_and_one_fault_and_the_test_it_writes_works(
        tmp_path):
    exp = load_experiment(ROOT / "chaos" / "zoo" / "ledger-no-dedup.yaml")
    run = tmp_path / "run"
    result = simulate_experiment(exp, out_dir=run)
    from harness.chaos.analyze import write_run_files
    from harness.history import read_history

    write_run_files(result.to_dict(), read_history(run / "history.jsonl").events, run,
                    suite="zoo")
    assert result.valid is False and sum(result.fired.values()) >= 10  # dozens in, faults many

    shrunk = shrink_run(run, out_dir=tmp_path / "shrunk")
    assert shrunk.failure.checker == "exactly_once"
    assert shrunk.failure.kind == "duplicate_effect"
    assert shrunk.before["inputs"] == 60 and shrunk.before["faults"] >= 10
    assert shrunk.after["inputs"] <= 2 and 1 <= shrunk.after["faults"] <= 2
    assert all(f.message for f in shrunk.case.faults)  # pinned, not drawn

    written = _load(Path(shrunk.files["test"]))
    tests = [getattr(written, n) for n in dir(written) if n.startswith("test_")]
    assert len(tests) == 1
    with pytest.raises(AssertionError, match="exactly_once"):
        tests[0]()  # the broken ledger (the experiment's zoo variant): fails
    fixed = written.run_case(variants={})  # the pipeline's own ledger: passes
    assert fixed.verdicts["exactly_once"].valid is True


def test_shrinking_a_valid_run_is_one_clear_error(tmp_path, capsys):
    exp = load_experiment(ROOT / "chaos" / "rides-slow-eta.yaml")
    out = tmp_path / "ok"
    code = main(["chaos", "run", str(exp.path), "--simulate", "--out", str(out), "--json"])
    assert code == 0
    capsys.readouterr()
    assert main(["chaos", "shrink", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "nothing to shrink" in errors[0] and str(out) in errors[0]
    assert "Traceback" not in err
