"""Re-running checkers on a stored history, writing a run's files, and replaying a stored run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import spill
from harness.checkers import CHECKERS, DEFAULT, overall, run_checkers
from harness.checkers.stream import chunks
from harness.checkers.user import user_check
from harness.errors import HistoryError, InputError
from harness.history import open_history
from harness.report.html import write_html
from harness.report.json import write_results
from harness.report.junit import write_junit

__all__ = ["check_history", "compare_verdicts", "load_results", "write_run_files"]


def _experiment_note(events: list[dict[str, Any]]) -> dict[str, Any]:
    for e in events[:50]:
        if e.get("kind") == "note" and e.get("note") == "experiment":
            exp = e.get("experiment")
            return exp if isinstance(exp, dict) else {}
    return {}


def _first(history: Any, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in chunks(history, n):
        return chunk
    return out


def check_history(path: str | Path, *, checkers: list[str] | None = None,
                  registry: str | None = None) -> dict[str, Any]:
    """Read a history and run the checkers its run used (or ``checkers``); never raises for a
    readable file (a checker that fails on odd data yields unknown).

    Returns:
        {history, events, truncated, checkers, verdicts (name -> Verdict), valid}.

    Raises:
        HistoryError: the file is missing, not UTF-8, or a line other than the last is not JSON.
    """
    history = open_history(path)  # streamed: a history of any size is never held whole
    note = _experiment_note(_first(history, 50))
    opts: dict[str, dict[str, Any]] = {}
    raw_opts = note.get("checkers")
    if isinstance(raw_opts, dict):
        opts = {k: dict(v) for k, v in raw_opts.items() if isinstance(v, dict)
                and (k in CHECKERS or user_check(k, v) is not None)}  # user invariants too
    names = checkers or [n for n in opts] or list(DEFAULT)
    unknown = [n for n in names if n not in CHECKERS and n not in opts]
    if unknown:
        raise InputError(f"unknown checker {unknown[0]!r} (known: {', '.join(CHECKERS)})",
                         where="--checkers")
    if registry:
        opts.setdefault("wire", {})["registry"] = registry
    with spill.checking():  # a file on its own: bigger indexes in memory (harness.spill)
        verdicts = run_checkers(history, names, opts)
    return {"history": str(path), "events": len(history), "truncated": history.truncated,
            "checkers": list(verdicts), "verdicts": verdicts, "valid": overall(verdicts),
            "experiment": note}


def write_run_files(result: dict[str, Any], events: Any, out: Path,
                    *, suite: str) -> dict[str, str]:
    """results.json, junit.xml and report.html for a run (history.jsonl is already there)."""
    files = {
        "results": str(write_results(result, out / "results.json")),
        "junit": str(write_junit(result["verdicts"], out / "junit.xml", suite=suite,
                                 elapsed_s=float(result.get("elapsed_s") or 0))),
        "report": str(write_html(result, events, out / "report.html")),
        "history": str(out / "history.jsonl"),
    }
    return files


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """A stored run's results.json."""
    path = Path(run_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HistoryError("no results.json: not a chaos run folder", where=str(path)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HistoryError(f"results.json is not JSON: {exc}", where=str(path)) from exc
    except RecursionError:
        raise HistoryError("results.json is nested too deeply", where=str(path)) from None
    if not isinstance(data, dict) or "experiment" not in data or "seed" not in data:
        raise HistoryError("results.json lacks experiment and seed", where=str(path))
    exp = data["experiment"]
    if not isinstance(exp, dict) or not isinstance(exp.get("path"), str) or \
            not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        raise HistoryError("results.json: experiment.path must be a string and seed an "
                           "integer", where=str(path))
    return data


def compare_verdicts(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per checker: the verdict before and after, and whether they agree."""
    rows = {}
    for name in sorted(set(before) | set(after)):
        b = (before.get(name) or {}).get("valid", "missing")
        a = (after.get(name) or {}).get("valid", "missing")
        rows[name] = {"before": b, "after": a, "same": a == b}
    return {"same": all(r["same"] for r in rows.values()), "checkers": rows}
