"""A seed sweep's files: results.json, junit.xml (a suite per seed) and report.html (a row per
seed, linking to that seed's own report)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report.html import _CSS, _e
from harness.report.junit import junit_suites, write_text
from harness.report.words import verdict_label

__all__ = ["render_sweep_html", "sweep_junit", "write_sweep_files"]


def sweep_junit(summary: Mapping[str, Any]) -> str:
    """One test suite per seed (NAME-seedS, a test case per checker), and one error per missing
    seed range, so a CI's test view shows the gap."""
    name = summary["experiment"]["name"]
    suites = [
        (
            f"{name}-seed{r['seed']}",
            # a seed whose run raised has no verdicts: one test case in error says so
            {"run": {"valid": "unknown", "error": r["error"]}} if r.get("error") else r["verdicts"],
            float(r.get("elapsed_s") or 0),
        )
        for r in summary["runs"]
    ]
    errors = []
    if summary.get("missing"):
        shards = summary.get("missing_shards") or []
        errors.append(
            (
                f"seeds {summary['missing']}",
                f"{summary['missing_count']} seeds not run by any shard given"
                + (f" (missing shards {', '.join(map(str, shards))})" if shards else ""),
            )
        )
    return junit_suites(suites, errors)


def _cell(valid: Any) -> str:
    label = verdict_label(valid)
    return f'<td class="{label}">{label}</td>'


def render_sweep_html(summary: Mapping[str, Any], *, links: bool = True) -> str:
    """The sweep page: a banner, missing seeds, a table per checker, a row per seed."""
    exp = summary["experiment"]
    label = verdict_label(summary.get("valid"))
    c = summary["counts"]
    title = f"{exp.get('title') or exp['name']}: seeds {summary['seeds']}"
    out = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<div class="banner {label}"><b>{label.upper()}</b> &nbsp; {c["seeds"]} of '
        f"{summary['expected']} seeds run: {c['valid']} valid, {c['invalid']} invalid, "
        f"{c['unknown']} unknown"
        f"<p>broker {_e(summary.get('broker'))} &middot; harness "
        f"{_e(summary.get('harness_version'))} &middot; "
        f"{len(summary.get('shards') or []) or 'no'} shards &middot; expectation met on "
        f"{c['expectation_met']} seeds</p></div>",
    ]
    for key, what in (("errored", "seeds whose run raised"), ("stopped", "sweep stopped")):
        if summary.get(key):
            out.append(f'<p class="unknown">{what}: {_e(summary[key])}</p>')
    if summary.get("missing"):
        shards = summary.get("missing_shards") or []
        out.append(
            f'<p class="invalid">MISSING: {summary["missing_count"]} seeds not run '
            f"({_e(summary['missing'])})"
            + (f"; missing shards: {_e(', '.join(map(str, shards)))}" if shards else "")
            + "</p>"
        )
    out.append(
        "<h2>Checkers</h2><table><tr><th>checker</th><th>valid</th><th>invalid</th>"
        "<th>unknown</th><th>invalid on seeds</th></tr>"
    )
    for name, row in summary["checkers"].items():
        out.append(
            f"<tr><td>{_e(name)}</td><td>{row['valid']}</td><td>{row['invalid']}</td>"
            f"<td>{row['unknown']}</td><td>{_e(row['invalid_seeds'] or '-')}</td></tr>"
        )
    out.append("</table>")
    names = list(summary["checkers"])
    out.append(
        "<h2>Seeds</h2><table><tr><th>seed</th><th>verdict</th><th>as expected</th>"
        + "".join(f"<th>{_e(n)}</th>" for n in names)
        + "</tr>"
    )
    for r in summary["runs"]:
        seed = _e(r["seed"])
        link = (
            f'<a href="{_e(r["dir"])}/report.html">{seed}</a>' if links and r.get("dir") else seed
        )
        verdicts = r["verdicts"]
        out.append(
            f"<tr><td>{link}</td>{_cell(r['valid'])}"
            f"<td>{'yes' if r['expectation_met'] else 'NO'}</td>"
            + "".join(_cell((verdicts.get(n) or {}).get("valid")) for n in names)
            + "</tr>"
        )
    out.append("</table></body></html>")
    return "\n".join(out)


def write_sweep_files(summary: dict[str, Any], out: Path) -> dict[str, str]:
    """results.json, junit.xml and report.html of a sweep in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "results": str(out / "results.json"),
        "junit": str(out / "junit.xml"),
        "report": str(out / "report.html"),
    }
    write_text(sweep_junit(summary), files["junit"])
    write_text(render_sweep_html(summary), files["report"])
    write_text(json.dumps({**summary, "files": files}, indent=2, default=str), files["results"])
    return files
