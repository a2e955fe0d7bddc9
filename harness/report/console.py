"""The verdict table (rich renderables; the command prints them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from harness.report.words import checker_summary, first_example, verdict_label

__all__ = ["verdict_label", "verdict_table"]

_STYLE = {"valid": "green", "invalid": "bold red", "unknown": "yellow"}


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
        table.add_row(name, Text(label, style=_STYLE[label]), checker_summary(data, limit=160),
                      first_example(data))
    return table
