"""Every hostile input of the corpus (tests/hostile/corpus.py), run through the CLI: it ends within
20 s with an exit code it deserves and one error line naming the file; no traceback, nothing
executed, nothing left half-written.

Each case runs in-process through ``harness.cli.main`` with ``HARNESS_DEBUG=1``, so an error the
engine did not anticipate (one the CLI's last line of defence would have caught) fails the test
with its traceback; a sample also runs as a real ``python -m harness.cli`` subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from tests.hostile.corpus import CANARY, Case, build

CASES = build()
SAMPLE = CASES[:: max(1, len(CASES) // 24)]
LIMIT_S = 20.0


def test_the_corpus_is_large_and_covers_every_format():
    assert len(CASES) >= 500, len(CASES)
    kinds = {c.name.split("-", 1)[0] for c in CASES}
    assert {"history", "experiment", "pipeline", "subject", "schema", "results", "pact"} <= kinds
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


def _materialise(case: Case, folder: Path) -> None:
    for name, data in case.contents().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, size in case.big.items():
        with open(folder / name, "wb") as fh:  # sparse: no disk blocks, no memory
            fh.truncate(size)


def _verdict(out: str) -> dict | None:
    """The JSON document a ``--json`` command printed (a verdict), if it printed one."""
    try:
        doc = json.loads(out)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _check_outcome(case: Case, code: int, out: str, err: str, folder: Path,
                   elapsed: float) -> None:
    assert elapsed < LIMIT_S, f"{case.name}: took {elapsed:.1f}s"
    assert "Traceback" not in err, f"{case.name}: traceback\n{err[-3000:]}"
    assert code in case.exits, f"{case.name}: exit {code}, expected {sorted(case.exits)}\n{err}"
    assert not os.path.exists(CANARY), f"{case.name}: a YAML tag was executed"
    verdict = _verdict(out)
    if verdict is not None:  # a judged input: never valid when the case says it is corrupt
        if 0 not in case.exits:
            assert verdict.get("valid") is not True, f"{case.name}: judged valid: {verdict}"
        assert not [ln for ln in err.splitlines() if "error:" in ln], f"{case.name}: {err}"
    elif code == 2:
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1, f"{case.name}: want one error line, got\n{err}"
        assert any(n in lines[0] for n in case.names.split("|")), \
            f"{case.name}: the error does not name {case.names}: {lines[0][:300]}"
        assert "HARNESS_DEBUG" not in lines[0], f"{case.name}: unanticipated: {lines[0]}"
    for leftover in folder.rglob("*.tmp"):
        raise AssertionError(f"{case.name}: half-written {leftover}")


@pytest.fixture(scope="module")
def commands_imported() -> None:
    """Every CLI command's modules imported once, before any case is timed: the first case of
    a kind would otherwise pay their import (seconds on a loaded machine, where this suite runs
    without .pyc files), which is not its input's doing."""
    import importlib
    import pkgutil

    import harness.commands

    for mod in pkgutil.iter_modules(harness.commands.__path__):
        importlib.import_module(f"harness.commands.{mod.name}")
    for name in ("harness.chaos.runner", "harness.contracts.compat.check", "harness.engine"):
        importlib.import_module(name)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_in_process(case: Case, tmp_path: Path, monkeypatch, commands_imported):
    monkeypatch.setenv("HARNESS_DEBUG", "1")  # unanticipated errors raise instead of one line
    monkeypatch.chdir(tmp_path)
    _materialise(case, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(case.args(tmp_path))
    _check_outcome(case, code, out.getvalue(), err.getvalue(), tmp_path,
                   time.monotonic() - t0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", SAMPLE, ids=[c.name for c in SAMPLE])
def test_hostile_input_through_a_real_process(case: Case, tmp_path: Path):
    _materialise(case, tmp_path)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    env.pop("HARNESS_DEBUG", None)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *case.args(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=LIMIT_S + 30, errors="replace")
    # interpreter start-up (seconds on a loaded machine) is not the input's doing
    _check_outcome(case, proc.returncode, proc.stdout, proc.stderr, tmp_path,
                   max(0.0, time.monotonic() - t0 - 10))
