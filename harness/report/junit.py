"""junit.xml: one test case per checker (invalid -> failure, unknown -> error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.redact import redact_text

__all__ = ["junit_xml", "write_junit"]


def junit_xml(verdicts: dict[str, Any], *, suite: str, elapsed_s: float = 0.0) -> str:
    """JUnit XML for verdicts (name -> Verdict or its dict)."""
    items = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in verdicts.items()}
    failures = sum(1 for v in items.values() if v.get("valid") is False)
    errors = sum(1 for v in items.values() if v.get("valid") not in (True, False))
    root = ET.Element("testsuites", name="harness chaos", tests=str(len(items)),
                      failures=str(failures), errors=str(errors))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(items)),
                       failures=str(failures), errors=str(errors), time=f"{elapsed_s:.3f}")
    for name, v in items.items():
        case = ET.SubElement(ts, "testcase", classname=f"chaos.{suite}", name=name, time="0")
        detail = json.dumps({"counts": v.get("counts"), "examples": v.get("examples")},
                            indent=2, default=str)[:20000]
        if v.get("valid") is False:
            problems = ", ".join(k for k in (v.get("examples") or {})) or "invalid"
            el = ET.SubElement(case, "failure", message=f"{name} invalid: {problems}",
                               type="invalid")
            el.text = detail
        elif v.get("valid") is not True:
            el = ET.SubElement(case, "error", message=f"{name} unknown: {v.get('error') or ''}",
                               type="unknown")
            el.text = detail
        else:
            ET.SubElement(case, "system-out").text = json.dumps(v.get("counts"), default=str)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_junit(verdicts: dict[str, Any], path: str | Path, *, suite: str,
                elapsed_s: float = 0.0) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact_text(junit_xml(verdicts, suite=suite, elapsed_s=elapsed_s)) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path
