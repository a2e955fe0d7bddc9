"""Console rendering of compatibility results (rich); the engine returns data only."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.contracts.compat.check import CompatResult
from harness.contracts.compat.registry_check import SubjectVerdict

__all__ = ["render_registry", "render_result"]


def render_result(result: CompatResult, console: Console, *, old_name: str = "old",
                  new_name: str = "new") -> None:
    """Print a verdict, its changes, renames, witness and fixes."""
    verdict = "[green]compatible[/]" if result.compatible else "[red]INCOMPATIBLE[/]"
    console.print(f"{escape(new_name)} vs {escape(old_name)}: {verdict} "
                  f"({result.mode}, {result.policy})")
    if result.changes:
        table = Table(show_header=True, header_style="bold")
        table.add_column("")
        table.add_column("change", overflow="fold")
        table.add_column("path", overflow="fold")
        table.add_column("what it means")
        for change in result.changes:
            mark = "[green]ok[/]" if change.compatible else "[red]breaks[/]"
            label = change.type if change.direction == "backward" else f"{change.type} (fwd)"
            table.add_row(mark, label, escape(change.path), escape(change.message))
        console.print(table)
    for rename in result.renames:
        console.print(f"[yellow]{escape(rename.message)}[/]")
    if result.witness is not None:
        w = result.witness
        console.print(f"A payload the {w.writer} schema accepts and the {w.reader} schema "
                      f"rejects ({escape(w.path)}: {escape(w.error)}):")
        console.print(escape(json.dumps(w.payload, indent=2)))
    elif not result.compatible:
        console.print("No breaking payload found: Confluent's rules reject this change, but the "
                      "search found no payload the writer accepts and the reader rejects.")
    fixes = dict.fromkeys(f for c in result.changes for f in c.fixes)
    if fixes:
        console.print("Ways to fix:")
        for fix in fixes:
            console.print(f"  - {escape(fix)}")


def render_registry(verdicts: list[SubjectVerdict], console: Console, *, root: str) -> None:
    """Print one row per subject: mode, versions and verdict."""
    table = Table(title=f"schema registry {escape(root)}", show_header=True,
                  header_style="bold")
    for column in ("subject", "mode", "policy", "versions", "verdict"):
        table.add_column(column)
    for v in verdicts:
        versions = ", ".join(f"v{n}" for n in v.versions)
        if v.compatible:
            verdict = "[green]ok[/]"
        else:
            parts = []
            for violation in v.violations:
                bad = [c.type for c in violation.result.changes if not c.compatible]
                parts.append(f"v{violation.version} breaks v{violation.against}: "
                             f"{', '.join(dict.fromkeys(bad))}")
            verdict = "[red]" + escape("; ".join(parts)) + "[/]"
        table.add_row(escape(v.subject), v.mode, v.policy, versions, verdict)
    console.print(table)
    broken = [v for v in verdicts if not v.compatible]
    console.print(f"{len(verdicts)} subjects, {len(broken)} with violations")
    for v in broken:
        for violation in v.violations:
            for rename in violation.result.renames:
                console.print(f"  {escape(v.subject)} v{violation.version}: "
                              f"{escape(rename.message)}")
            if violation.result.witness is not None:
                w = violation.result.witness
                console.print(f"  {escape(v.subject)} v{violation.version}: breaking payload "
                              f"{escape(json.dumps(w.payload))} ({escape(w.error)})")
