"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network).

Read top to bottom in ten seconds: a verdict banner, a checker table (a summary line per checker,
examples folded), a sequence diagram per failing correlation with the violating events marked by
the checker that flags them ("N of M" when not all are drawn), latency histograms scaled to their
data with the budget line labelled, and the fault plan with how often each fault fired.
"""

from __future__ import annotations

import html
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.checkers.stream import chunks
from harness.redact import redact_text
from harness.report.words import (
    checker_summary,
    example_line,
    expectation_words,
    verdict_label,
)

__all__ = ["failing_correlations", "render_html", "write_html"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:16px 24px;color:#222;
max-width:1280px;overflow-wrap:anywhere}
h1{font-size:20px;margin:4px 0}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:18px 0 4px}
.banner{border-radius:6px;padding:12px 16px;margin:8px 0 16px}
div.banner,div.banner *{color:#fff}
.banner b{font-size:22px;letter-spacing:.5px}.banner p{margin:4px 0 0}
.banner.valid{background:#17803d}.banner.invalid{background:#c62828}
.banner.unknown{background:#b26a00}
table{border-collapse:collapse;margin:8px 0;width:100%;table-layout:fixed}
td,th{border:1px solid #ddd;padding:5px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f4f4f4}col.c1{width:18%}col.c2{width:10%}col.c3{width:36%}
tr.row-invalid td{background:#fdecea}tr.row-invalid td:first-child{border-left:5px solid #c62828}
tr.row-unknown td{background:#fff6e5}tr.row-unknown td:first-child{border-left:5px solid #b26a00}
.valid{color:#17803d;font-weight:600}.invalid{color:#c62828;font-weight:600}
.unknown{color:#b26a00;font-weight:600}
details summary{cursor:pointer}details ul{margin:4px 0;padding-left:18px}
code{font-size:12px;background:#f6f6f6;padding:0 3px}
.diagram{margin:4px 0 12px}.diagram svg{max-width:100%;height:auto}
.hists{display:flex;flex-wrap:wrap;gap:8px 20px}.hists svg{max-width:100%;height:auto}
.note{color:#555}
svg text{font-family:system-ui,sans-serif}
"""

_DRAWN = ("ingress", "publish", "deliver", "ack", "nack", "effect", "outcome", "dead_letter",
          "fault_start", "fallback", "agent_crash")
_MATCH_KEYS = ("message_id", "key", "effect", "type", "reason", "queue", "dependency")
_CHAR_W = 6.4  # average width of an 11 px character, for laying out lanes


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _as_dict(v: Any) -> dict[str, Any]:
    return v.to_dict() if hasattr(v, "to_dict") else dict(v)


def failing_correlations(verdicts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(correlation id, "checker: problem") for every correlation named by a failing checker."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, raw in verdicts.items():
        v = _as_dict(raw)
        if v.get("valid") is True:
            continue
        for problem, items in (v.get("examples") or {}).items():
            for item in items or []:
                cid = item.get("correlation_id") if isinstance(item, dict) else None
                if isinstance(cid, str) and cid not in seen:
                    seen.add(cid)
                    out.append((cid, f"{name}: {problem}"))
    return out


def _counted_cases(verdicts: Mapping[str, Any]) -> int:
    """How many failing cases the checkers counted for problems whose examples name correlations."""
    total = 0
    for raw in verdicts.values():
        v = _as_dict(raw)
        if v.get("valid") is True:
            continue
        counts = v.get("counts") or {}
        for problem, items in (v.get("examples") or {}).items():
            if any(isinstance(i, dict) and i.get("correlation_id") for i in items or []):
                n = counts.get(problem)
                total += n if isinstance(n, int) and not isinstance(n, bool) else len(items)
    return total


def _violations(cid: str, verdicts: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """("checker: problem", example) for each failing example naming this correlation."""
    out = []
    for name, raw in verdicts.items():
        v = _as_dict(raw)
        if v.get("valid") is True:
            continue
        for problem, items in (v.get("examples") or {}).items():
            for item in items or []:
                if isinstance(item, dict) and item.get("correlation_id") == cid:
                    out.append((f"{name}: {problem}", item))
    return out


def _flagged(rows: list[dict[str, Any]], cid: str,
             verdicts: Mapping[str, Any]) -> dict[int, str]:
    """Row index -> the checker and problem that flags that event."""
    marks: dict[int, str] = {}
    for why, item in _violations(cid, verdicts):
        keys = [k for k in _MATCH_KEYS if item.get(k) is not None]
        agent = item.get("agent")
        hits = [i for i, e in enumerate(rows)
                if all(e.get(k) == item[k] for k in keys) and keys
                and (agent is None or e.get("agent") in (agent, None))]
        if "duplicate" in why:  # the second and later applications are the violation
            applied = [i for i in hits
                       if rows[i].get("kind") == "effect" and rows[i].get("applied")]
            hits = applied[1:] or hits
        if not hits:  # nothing names an event: mark where the correlation ended (or began)
            ends = [i for i, e in enumerate(rows) if e.get("kind") in ("outcome", "dead_letter")]
            hits = ends or [i for i, e in enumerate(rows) if e.get("kind") == "ingress"]
        for i in hits:
            marks.setdefault(i, why)
    return marks


def _event_label(e: dict[str, Any]) -> tuple[str, str]:
    kind = str(e.get("kind"))
    if kind == "ingress":
        return f"ingress (expect {e.get('expect')})", "#333"
    if kind == "deliver":
        return f"deliver #{e.get('delivery_count')}", "#333"
    if kind == "ack":
        fallback = " (fallback)" if e.get("fallback") else ""
        return f"ack {e.get('latency_ms')} ms{fallback}", "#333"
    if kind == "effect":
        applied = bool(e.get("applied"))
        return (f"effect {e.get('effect')} {'applied' if applied else 'skipped'}",
                "#17803d" if applied else "#777")
    if kind == "outcome":
        return f"OUTCOME {e.get('outcome')}", "#1f4fb3"
    if kind == "dead_letter":
        return f"DEAD LETTER {e.get('reason')}", "#c62828"
    if kind in ("fault_start", "fault_end"):
        return f"FAULT {e.get('fault')}" + (" ends" if kind == "fault_end" else ""), "#d84315"
    if kind == "agent_crash":
        return "CRASH", "#d84315"
    if kind == "fallback":
        return f"fallback {e.get('dependency')}", "#b26a00"
    return kind, "#333"


class _Digest:
    """What the report draws, read in one pass over the history (which may stream from disk):
    the rows of the correlations drawn (first 80 each), window faults, lanes, per-agent ack
    latencies (a float array), the first five events and the count."""

    def __init__(self, events: Any, wanted: set[Any]) -> None:
        self.count = 0
        self.head: list[dict[str, Any]] = []
        self.rows: dict[Any, list[dict[str, Any]]] = {c: [] for c in wanted}
        self.windows: list[dict[str, Any]] = []
        self.started: list[str] = []
        self.delivered: list[str] = []
        self.queue_agent: dict[str, str] = {}
        self.latency: dict[str, array[float]] = {}
        for chunk in chunks(events):
            if len(self.head) < 5:
                self.head.extend(chunk[:5 - len(self.head)])
            self.count += len(chunk)
            for e in chunk:
                self._take(e)

    def _take(self, e: dict[str, Any]) -> None:
        kind = e.get("kind")
        rows = None
        if self.rows:
            try:
                rows = self.rows.get(e.get("correlation_id"))
            except TypeError:  # an unhashable id names no drawn correlation
                rows = None
        if rows is not None and kind in _DRAWN and len(rows) < 80:
            rows.append(e)
        if kind in ("fault_start", "fault_end") and not e.get("message_id"):
            self.windows.append(e)
        elif kind == "agent_start" and e.get("agent") not in self.started:
            self.started.append(str(e["agent"]))
        elif kind == "deliver" and e.get("agent"):
            if e.get("queue"):
                self.queue_agent.setdefault(str(e["queue"]), str(e["agent"]))
            if e.get("agent") not in self.delivered:
                self.delivered.append(str(e["agent"]))
        elif kind == "ack" and isinstance(e.get("latency_ms"), (int, float)):
            self.latency.setdefault(str(e.get("agent")), array("d")).append(
                float(e["latency_ms"]))

    def lanes(self) -> list[str]:
        lanes = ["workload"]
        for agent in [*self.started, *self.delivered]:
            if agent not in lanes:
                lanes.append(agent)
        return lanes


def _rows_of(cid: str, digest: _Digest) -> list[dict[str, Any]]:
    rows = list(digest.rows.get(cid, []))
    if rows:  # window faults (pause, restart, slow dependency, network) while it was in flight
        t0, t1 = float(rows[0].get("time", 0)), float(rows[-1].get("time", 0))
        windows = [e for e in digest.windows if t0 <= float(e.get("time", 0)) <= t1]
        rows = sorted(rows + windows, key=lambda e: float(e.get("time", 0)))[:100]
    return rows


def _sequence(cid: str, why: str, digest: _Digest, lanes: list[str],
              queue_agent: dict[str, str], verdicts: Mapping[str, Any]) -> str:
    rows = _rows_of(cid, digest)
    marks = _flagged(rows, cid, verdicts)
    labels = [_event_label(e)[0] + (f"  \u2190 {marks[i]}" if i in marks else "")
              for i, e in enumerate(rows)]
    # each lane is as wide as the longest label drawn beside it (and its own name)
    lane_of = []
    for e in rows:
        agent = e.get("agent") or queue_agent.get(str(e.get("queue")), "")
        if e.get("kind") in ("fault_start", "fault_end"):
            agent = str(e.get("agent") or queue_agent.get(str(e.get("target")), "")) or agent
        lane_of.append(agent if agent in lanes else "workload")
    need = {name: len(name) * 7.5 + 20 for name in lanes}
    for i, e in enumerate(rows):
        if e.get("kind") != "publish":
            need[lane_of[i]] = max(need[lane_of[i]], len(labels[i]) * _CHAR_W + 24)
    col: dict[str, float] = {}
    x = 70.0
    for name in lanes:
        col[name] = x + len(name) * 3.75
        x = col[name] + max(need[name], 120)
    width = int(x + 10)
    names = list(col)  # a lane's labels must end before the next lane's line
    limit = {n: (col[names[k + 1]] if k + 1 < len(names) else width)
             for k, n in enumerate(names)}
    height = 50 + 22 * (len(rows) + 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="sequence diagram of {_e(cid)}">',
             '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for i in marks:
        parts.append(f'<rect x="0" y="{40 + 22 * i - 11}" width="{width}" height="22" '
                     'fill="#fdecea"/>')
    for name, cx in col.items():
        parts.append(f'<text x="{cx:.0f}" y="16" text-anchor="middle" font-size="12" '
                     f'font-weight="600">{_e(name)}</text>')
        parts.append(f'<line x1="{cx:.0f}" y1="24" x2="{cx:.0f}" y2="{height - 6}" '
                     'stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, e in enumerate(rows):
        y = 40 + 22 * i
        t = f'{float(e.get("time", 0)) * 1000:.1f}ms'
        parts.append(f'<text x="4" y="{y + 4}" font-size="10" fill="#888">{t}</text>')
        if e.get("kind") == "publish":
            src = col.get(str(e.get("producer")), col["workload"])
            dst = col.get(queue_agent.get(str(e.get("queue")), ""), src)
            label = f'{e.get("type")}@{e.get("schema_version")}'
            parts.append(f'<line x1="{src:.0f}" y1="{y}" x2="{dst:.0f}" y2="{y}" stroke="#555" '
                         'marker-end="url(#a)"/>')
            parts.append(f'<text x="{(src + dst) / 2:.0f}" y="{y - 3}" text-anchor="middle" '
                         f'font-size="10">{_e(label)}</text>')
            continue
        cx = col[lane_of[i]]
        _, color = _event_label(e)
        if i in marks:
            color = "#b71c1c"
        weight = ' font-weight="700"' if i in marks else ""
        parts.append(f'<circle cx="{cx:.0f}" cy="{y}" r="{6 if i in marks else 4}" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{cx + 9:.0f}" y="{y + 4}" font-size="11" fill="{color}"'
                     f'{weight} data-max-x="{limit[lane_of[i]]:.0f}">{_e(labels[i])}</text>')
    parts.append("</svg>")
    return (f'<h3 id="c-{_e(cid)}">{_e(cid)} <small class="note">({_e(why)})</small></h3>'
            f'<div class="diagram">{"".join(parts)}</div>')


def _histogram(agent: str, values: list[float], budget: float | None) -> str:
    """A histogram whose axis fits the data; the budget line is drawn when it is on the axis
    (else named at the right edge with an arrow)."""
    if not values:
        return ""
    hi = max(values)
    top = max(hi * 1.05, 1.0)
    if budget and budget <= hi * 2:  # a budget near the data shares its axis
        top = max(top, budget * 1.08)
    bins = [0] * 24
    for v in values:
        bins[min(23, int(v / top * 24))] += 1
    peak = max(bins) or 1
    w, h = 320, 120
    bar = (w - 50) / 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 34}" '
             f'viewBox="0 0 {w} {h + 34}" role="img" aria-label="latency histogram {_e(agent)}">',
             f'<text x="4" y="12" font-size="12" font-weight="600">{_e(agent)} '
             f'(n={len(values)}, max {hi:.1f} ms)</text>',
             f'<text x="36" y="28" font-size="10" fill="#666">{peak}</text>']
    for i, n in enumerate(bins):
        bh = (h - 34) * n / peak
        parts.append(f'<rect x="{40 + i * bar:.1f}" y="{h - bh:.1f}" width="{bar - 1:.1f}" '
                     f'height="{bh:.1f}" fill="#5c7cfa"><title>{n}</title></rect>')
    parts.append(f'<line x1="40" y1="{h}" x2="{w - 10}" y2="{h}" stroke="#333"/>')
    parts.append(f'<text x="40" y="{h + 14}" font-size="10">0</text>')
    parts.append(f'<text x="{w - 10}" y="{h + 14}" font-size="10" text-anchor="end">'
                 f'{top:.0f} ms</text>')
    if budget and budget <= top:
        bx = 40 + (w - 50) * budget / top
        anchor = "end" if bx > w * 0.6 else "start"
        parts.append(f'<line x1="{bx:.1f}" y1="22" x2="{bx:.1f}" y2="{h}" stroke="#c62828" '
                     f'stroke-dasharray="3 2"/><text x="{bx + (-3 if anchor == "end" else 3):.1f}"'
                     f' y="{h + 28}" font-size="10" fill="#c62828" text-anchor="{anchor}">'
                     f'p99 budget {budget:g} ms</text>')
    elif budget:
        parts.append(f'<text x="{w - 10}" y="{h + 28}" font-size="10" fill="#c62828" '
                     f'text-anchor="end">p99 budget {budget:g} ms (off scale) \u2192</text>')
    parts.append("</svg>")
    return "".join(parts)


def _checker_rows(verdicts: Mapping[str, Any]) -> list[str]:
    out = ['<table><colgroup><col class="c1"><col class="c2"><col class="c3"><col></colgroup>'
           "<tr><th>checker</th><th>verdict</th><th>summary</th><th>examples</th></tr>"]
    for name, raw in verdicts.items():
        v = _as_dict(raw)
        label = verdict_label(v.get("valid"))
        examples = [(problem, item) for problem, items in (v.get("examples") or {}).items()
                    for item in items or []]
        if examples:
            heads = ", ".join(f"{len(items)} {p}" for p, items in (v.get("examples") or {}).items()
                              if items)
            lis = "".join(f"<li><b>{_e(p)}</b>: {_e(example_line(item))}</li>"
                          for p, item in examples[:12])
            cell = f"<details><summary>{_e(heads)}</summary><ul>{lis}</ul></details>"
        else:
            cell = _e(v.get("error") or "")
        out.append(f'<tr class="row-{label}"><td>{_e(name)}</td><td class="{label}">{label}</td>'
                   f"<td>{_e(checker_summary(v))}</td><td>{cell}</td></tr>")
    out.append("</table>")
    return out


def _fault_plan(result: Mapping[str, Any]) -> list[str]:
    plan = result.get("plan") or []
    if not plan:
        return []
    fired = result.get("fired") or {}
    out = ["<h2>Fault plan</h2><table><tr><th>id</th><th>fault</th><th>target</th>"
           "<th>window (s)</th><th>probability</th><th>fired</th></tr>"]
    for f in plan:
        n = fired.get(f.get("id"), 0)
        cls = ' class="unknown"' if not n else ""
        end = f.get("end") if f.get("end") is not None else "end"
        out.append(f"<tr><td>{_e(f.get('id'))}</td><td>{_e(f.get('fault'))}</td>"
                   f"<td>{_e(f.get('target'))}</td><td>{_e(f.get('start'))} &ndash; {_e(end)}"
                   f"</td><td>{_e(f.get('probability'))}</td><td{cls}>{_e(n)}</td></tr>")
    out.append("</table>")
    return out


def render_html(result: Mapping[str, Any], events: Iterable[dict[str, Any]], *,
                max_diagrams: int = 8) -> str:
    """The report page for a run (``RunResult.to_dict()``) or a check (same keys, no plan)."""
    verdicts = {k: _as_dict(v) for k, v in (result.get("verdicts") or {}).items()}
    exp = result.get("experiment") or {}
    title = exp.get("title") or result.get("history") or "chaos run"
    failing = failing_correlations(verdicts)
    drawn = failing[:max_diagrams]
    digest = _Digest(events, {cid for cid, _ in drawn})
    lanes, queue_agent = digest.lanes(), digest.queue_agent
    label = verdict_label(result.get("valid"))
    bad = [n for n, v in verdicts.items() if v.get("valid") is not True]
    headline = (f"{len(bad)} of {len(verdicts)} checkers not valid: {', '.join(bad)}" if bad
                else f"all {len(verdicts)} checkers valid")
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
           f'<meta name="viewport" content="width=device-width,initial-scale=1">'
           f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_e(title)}</h1>",
           f'<div class="banner {label}"><b>{label.upper()}</b> &nbsp; {_e(headline)}'
           f"<p>seed {_e(result.get('seed'))} &middot; broker {_e(result.get('broker'))}"
           f" &middot; {digest.count} events</p>"]
    if result.get("expected"):
        met = result.get("expectation_met")
        out.append(f"<p>Expected: {_e(expectation_words(result['expected']))} &rarr; "
                   f"<b>{'as expected' if met else 'NOT as expected'}</b></p>")
    out.append("</div><h2>Checkers</h2>")
    out.extend(_checker_rows(verdicts))
    counted = max(_counted_cases(verdicts), len(failing))
    out.append("<h2>Failing correlations</h2>")
    if not failing:
        out.append("<p>None.</p>" if not bad else
                   "<p class=note>The failing checkers name no correlation (see their examples"
                   " above).</p>")
    else:
        out.append(f'<p class="note">{len(drawn)} of {counted} failing cases drawn'
                   + (f" ({len(failing)} correlations named in results.json; checkers keep up to"
                      " 5 examples per problem)" if counted > len(failing) else "") + ".</p>")
    for cid, why in drawn:
        out.append(_sequence(cid, why, digest, lanes, queue_agent, verdicts))
    rest = failing[max_diagrams:]
    if rest:
        out.append("<p>Not drawn: " + ", ".join(f"<code>{_e(c)}</code> ({_e(w)})" for c, w in rest)
                   + "</p>")
    out.append("<h2>Latency per agent</h2><div class=hists>")
    start = next((e for e in digest.head if e.get("kind") == "run_start"), {})
    budgets = start.get("budgets") or {}
    for agent in lanes[1:]:
        out.append(_histogram(agent, list(digest.latency.get(agent, ())),
                              (budgets.get(agent) or {}).get("p99_ms")))
    out.append("</div>")
    out.extend(_fault_plan(result))
    out.append("</body></html>")
    return "\n".join(out)


def write_html(result: Mapping[str, Any], events: Iterable[dict[str, Any]],
               path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact_text(render_html(result, events)), encoding="utf-8")
    tmp.replace(path)
    return path

