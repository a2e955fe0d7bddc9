"""Verdicts, counts, examples and expectations in words: shared by the console and report.html."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["checker_summary", "example_line", "expectation_words", "fired_words", "first_example",
           "result_line",
           "verdict_label"]


def verdict_label(valid: Any) -> str:
    """'valid', 'invalid' or 'unknown' for a tri-state verdict value."""
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def _num(n: Any) -> bool:
    return isinstance(n, (int, float)) and not isinstance(n, bool)


def _fmt(n: float) -> str:
    if isinstance(n, int) or (float(n).is_integer() and abs(n) < 1e15):
        return f"{int(n):,}"
    return f"{n:,.1f}" if abs(n) >= 1 else f"{n:.3g}"


def checker_summary(v: Mapping[str, Any], *, limit: int = 240) -> str:
    """The non-zero counts of one checker as text ("applied 120, duplicate_effect 2, ...")."""
    counts = v.get("counts") or {}
    parts = [f"{k.replace('_', ' ')} {_fmt(n)}" for k, n in counts.items() if _num(n) and n]
    e2e = counts.get("end_to_end")
    if isinstance(e2e, Mapping):
        parts.append(f"end-to-end p50 {e2e.get('p50_ms')} ms, p99 {e2e.get('p99_ms')} ms")
    if v.get("error"):
        parts.append(f"error: {v['error']}")
    text = ", ".join(parts) or "nothing counted"
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def example_line(item: Any) -> str:
    """One example as 'key=value' pairs, the correlation id first."""
    if not isinstance(item, Mapping):
        return str(item)
    keys = sorted(item, key=lambda k: (k != "correlation_id", k != "agent", str(k)))
    return ", ".join(f"{k}={item[k]}" for k in keys)


def first_example(v: Mapping[str, Any]) -> str:
    """The first example of the first problem, short (for one table cell)."""
    for problem, items in (v.get("examples") or {}).items():
        if items:
            first = items[0]
            if isinstance(first, Mapping):
                key = first.get("correlation_id") or first.get("agent") or first.get("key")
                return f"{problem}: {key}" if key else str(problem)
            return f"{problem}: {first}"
    return str(v.get("error") or "")


def expectation_words(expected: Mapping[str, Any]) -> str:
    """An experiment's ``expect`` block as a sentence."""
    if expected.get("valid", True) is True:
        return "every checker valid"
    caught = list(expected.get("caught_by") or [])
    if not caught:
        return "the run invalid"
    return "the run invalid, caught by " + " and ".join(caught)


def fired_words(plan: list[Mapping[str, Any]], fired: Mapping[str, Any]) -> str:
    """How often each planned fault fired ("duplicate x12, crash_after_effect x0 (never)")."""
    parts = []
    for f in plan:
        n = fired.get(str(f.get("id")), 0) or 0
        name = f.get("fault") if f.get("id") == f.get("fault") else f"{f.get('id')}"
        parts.append(f"{name} x{n}" + (" (never fired)" if not n else ""))
    return ", ".join(parts) or "no faults planned"


def result_line(data: Mapping[str, Any], *, name: str, exit_code: int) -> str:
    """One greppable line per run: ``RESULT chaos <name> seed=.. verdict=.. expectation=..``."""
    fired = sum(int(n or 0) for n in (data.get("fired") or {}).values())
    met = data.get("expectation_met")
    expectation = "met" if met else ("not-met" if met is False else "none")
    return (f"RESULT chaos {name} seed={data.get('seed')} broker={data.get('broker')} "
            f"verdict={verdict_label(data.get('valid'))} expectation={expectation} "
            f"faults_fired={fired} exit={exit_code}")
