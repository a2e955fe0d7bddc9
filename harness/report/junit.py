"""junit.xml: one test case per checker (invalid -> failure, unknown -> error)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.redact import redact_text

__all__ = ["junit_suites", "junit_xml", "write_junit", "write_text"]


def junit_xml(verdicts: dict[str, Any], *, suite: str, elapsed_s: float = 0.0) -> str:
    """JUnit XML for verdicts (name -> Verdict or its dict)."""
    return junit_suites([(suite, verdicts, elapsed_s)])


def junit_suites(
    suites: list[tuple[str, dict[str, Any], float]], errors: Sequence[tuple[str, str]] = ()
) -> str:
    """JUnit XML with one test suite per (name, verdicts, elapsed_s) (a sweep: one per seed),
    plus ``errors``: (name, message) test cases in a suite ``missing`` (seeds no shard ran)."""
    root = ET.Element("testsuites", name="harness chaos")
    total = fails = errs = 0
    for suite, verdicts, elapsed_s in suites:
        t, f, e = _suite(root, suite, verdicts, elapsed_s)
        total, fails, errs = total + t, fails + f, errs + e
    if errors:
        ts = ET.SubElement(
            root,
            "testsuite",
            name="missing",
            tests=str(len(errors)),
            failures="0",
            errors=str(len(errors)),
            time="0.000",
        )
        for name, message in errors:
            case = ET.SubElement(ts, "testcase", classname="chaos.missing", name=name, time="0")
            ET.SubElement(case, "error", message=message, type="missing")
        total, errs = total + len(errors), errs + len(errors)
    root.set("tests", str(total))
    root.set("failures", str(fails))
    root.set("errors", str(errs))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _suite(
    root: ET.Element, suite: str, verdicts: dict[str, Any], elapsed_s: float
) -> tuple[int, int, int]:
    items = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in verdicts.items()}
    failures = sum(1 for v in items.values() if v.get("valid") is False)
    errors = sum(1 for v in items.values() if v.get("valid") not in (True, False))
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(items)),
        failures=str(failures),
        errors=str(errors),
        time=f"{elapsed_s:.3f}",
    )
    for name, v in items.items():
        case = ET.SubElement(ts, "testcase", classname=f"chaos.{suite}", name=name, time="0")
        detail = json.dumps(
            {"counts": v.get("counts"), "examples": v.get("examples")}, indent=2, default=str
        )[:20000]
        if v.get("valid") is False:
            problems = ", ".join(k for k in (v.get("examples") or {})) or "invalid"
            el = ET.SubElement(
                case, "failure", message=f"{name} invalid: {problems}", type="invalid"
            )
            el.text = detail
        elif v.get("valid") is not True:
            el = ET.SubElement(
                case, "error", message=f"{name} unknown: {v.get('error') or ''}", type="unknown"
            )
            el.text = detail
        else:
            ET.SubElement(case, "system-out").text = json.dumps(v.get("counts"), default=str)
    return len(items), failures, errors


def write_junit(
    verdicts: dict[str, Any], path: str | Path, *, suite: str, elapsed_s: float = 0.0
) -> Path:
    return write_text(junit_xml(verdicts, suite=suite, elapsed_s=elapsed_s), path)


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` (URL passwords hidden) atomically: a temporary file, then a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact_text(text) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
