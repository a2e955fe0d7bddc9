"""The verdict table (rich renderables; the command prints them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

__all__ = ["verdict_label", "verdict_table"]

_STYLE = {"valid": "green", "invalid": "bold red", "unknown": "yellow"}


def verdict_label(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def _summary(v: dict[str, Any]) -> str:
    counts = v.get("counts") or {}
    parts = []
    for k, n in counts.items():
        if isinstance(n, (int, float)) and not isinstance(n, bool) and n:
            parts.append(f"{k}={n}")
    if "end_to_end" in counts and isinstance(counts["end_to_end"], dict):
        e = counts["end_to_end"]
        parts.append(f"e2e p50/p99={e.get('p50_ms')}/{e.get('p99_ms')}ms")
    return ", ".join(parts)[:160]


def _example(v: dict[str, Any]) -> str:
    for problem, items in (v.get("examples") or {}).items():
        if items:
            first = items[0]
            if isinstance(first, dict):
                key = first.get("correlation_id") or first.get("agent") or first.get("key")
                return f"{problem}: {key}" if key else problem
            return f"{problem}: {first}"
    return v.get("error") or ""


def verdict_table(verdicts: dict[str, Any], *, title: str = "verdicts") -> Table:
    """A table with one row per checker: verdict, counts, first example."""
    table = Table(title=title, title_justify="left")
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("counts", overflow="fold")
    table.add_column("example", overflow="fold")
    for name, v in verdicts.items():
        data = v.to_dict() if hasattr(v, "to_dict") else v
        label = verdict_label(data.get("valid"))
        table.add_row(name, Text(label, style=_STYLE[label]), _summary(data), _example(data))
    return table
