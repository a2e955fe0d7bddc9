"""Console rendering of compatibility results (fixed width, no colour)."""

from __future__ import annotations

import io

from rich.console import Console

from harness.commands._compat_render import render_registry, render_result
from harness.contracts.compat import check_compatibility
from harness.contracts.compat.registry_check import SubjectVerdict, Violation


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=160, color_system=None, highlight=False), buffer


def test_render_incompatible_result_shows_changes_rename_witness_and_fixes() -> None:
    old = {"type": "object", "additionalProperties": False,
           "properties": {"risk_level": {"type": "string"}}}
    new = {"type": "object", "additionalProperties": False,
           "properties": {"risk_score": {"type": "string"}}}
    console, buffer = _console()
    render_result(check_compatibility(old, new), console, old_name="v1.json",
                  new_name="v2.json")
    text = buffer.getvalue()
    assert "v2.json vs v1.json: INCOMPATIBLE (BACKWARD, strict)" in text
    assert "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" in text
    assert "renamed risk_level -> risk_score" in text
    assert '"risk_level": "' in text
    assert "Ways to fix:" in text and "bump the major version" in text


def test_render_compatible_result_is_one_line() -> None:
    console, buffer = _console()
    render_result(check_compatibility({"type": "string"}, {"type": "string"}), console)
    assert buffer.getvalue().strip() == "new vs old: compatible (BACKWARD, strict)"


def test_render_registry_table() -> None:
    bad = check_compatibility({"type": "string"}, {"type": "integer"})
    verdicts = [SubjectVerdict("a.ok", "BACKWARD", "strict", [1, 2], [], 1),
                SubjectVerdict("b.bad", "FULL", "lenient", [1, 2], [Violation(2, 1, bad)], 1)]
    console, buffer = _console()
    render_registry(verdicts, console, root="contracts")
    text = buffer.getvalue()
    assert "a.ok" in text and "ok" in text
    assert "v2 breaks v1: TYPE_CHANGED" in text
    assert "2 subjects, 1 with violations" in text
    assert "breaking payload" in text
