"""`harness demo`: every transaction has exactly one outcome; nothing lost or doubled."""

from __future__ import annotations

import json

from harness.cli import main
from harness.history import read_history

KEYS = {"transactions", "completed", "declined", "dead_lettered", "lost", "duplicate_effects",
        "ledger_balanced", "p50_ms", "p99_ms", "seed"}


def test_demo_json_on_memory(tmp_path, capsys):
    code = main(["demo", "--json", "--transactions", "120", "--seed", "11",
                 "--out", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert KEYS <= set(out)
    assert out["transactions"] == 120 and out["seed"] == 11
    assert out["lost"] == 0 and out["duplicate_effects"] == 0 and out["ledger_balanced"] is True
    assert out["completed"] + out["declined"] + out["dead_lettered"] == 120
    assert out["declined"] > 0 and out["dead_lettered"] >= 4  # one of each invalid kind at least
    assert set(out["dead_letter_reasons"]) >= {"unknown_version", "schema_invalid", "too_large"}
    assert out["p50_ms"] is not None and out["p99_ms"] >= out["p50_ms"]
    # the history was written, line by line, and reads back
    history = read_history(tmp_path / "history.jsonl")
    assert not history.truncated
    assert sum(1 for e in history if e["kind"] == "ingress") == 120


def test_same_seed_same_workload(tmp_path, capsys):
    results = []
    for run in ("a", "b"):
        main(["demo", "--json", "--transactions", "40", "--seed", "5",
              "--out", str(tmp_path / run)])
        out = json.loads(capsys.readouterr().out)
        results.append({k: out[k] for k in ("completed", "declined", "dead_lettered",
                                              "dead_letter_reasons")})
    assert results[0] == results[1]


def test_bad_transactions_value_is_bad_input(capsys):
    assert main(["demo", "--transactions", "0"]) == 2
    assert "--transactions" in capsys.readouterr().err


def test_the_table_says_what_the_latency_measures(tmp_path, capsys):
    """All at once: the figure is mostly queueing time; --rate paces the inputs and says so."""
    assert main(["demo", "--transactions", "12", "--seed", "2", "--out", str(tmp_path / "a")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "every input sent at once, so it is mostly queueing time" in text
    assert main(["demo", "--transactions", "12", "--seed", "2", "--rate", "40",
                 "--out", str(tmp_path / "b")]) == 0
    assert "inputs sent at 40/s" in " ".join(capsys.readouterr().out.split())
