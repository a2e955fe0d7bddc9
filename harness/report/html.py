"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network).

It shows the verdict of each checker, a sequence diagram across agents for each failing
correlation with the faults that hit it, latency histograms per agent, and the fault plan.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

__all__ = ["render_html", "write_html"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top;font-size:13px}.valid{color:#17803d;font-weight:600}
.invalid{color:#c62828;font-weight:600}.unknown{color:#b26a00;font-weight:600}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:240px;font-size:12px}
.hist{display:inline-block;margin:6px 16px 6px 0}svg text{font-family:system-ui,sans-serif}
"""
_CLS = {True: "valid", False: "invalid"}


def _label(valid: Any) -> str:
    return _CLS.get(valid, "unknown")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _failing_cids(verdicts: dict[str, Any], limit: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, v in verdicts.items():
        if v.get("valid") is True:
            continue
        for problem, items in (v.get("examples") or {}).items():
            for item in items:
                cid = item.get("correlation_id") if isinstance(item, dict) else None
                if cid and cid not in seen:
                    seen.add(cid)
                    out.append((cid, f"{name}: {problem}"))
                if len(out) >= limit:
                    return out
    return out


def _sequence(cid: str, why: str, events: list[dict[str, Any]], lanes: list[str],
              queue_agent: dict[str, str]) -> str:
    rows = []
    for e in events:
        if e.get("correlation_id") != cid:
            continue
        kind = e.get("kind")
        if kind in ("ingress", "publish", "deliver", "ack", "nack", "effect", "outcome",
                    "dead_letter", "fault_start", "fallback", "agent_crash"):
            rows.append(e)
        if len(rows) >= 80:
            break
    if rows:  # window faults (pause, restart, slow dependency, network) while it was in flight
        t0, t1 = float(rows[0].get("time", 0)), float(rows[-1].get("time", 0))
        windows = [e for e in events if e.get("kind") in ("fault_start", "fault_end")
                   and not e.get("message_id") and t0 <= float(e.get("time", 0)) <= t1]
        rows = sorted(rows + windows, key=lambda e: float(e.get("time", 0)))[:100]
    col = {name: 90 + i * 150 for i, name in enumerate(lanes)}
    width = 90 + 150 * len(lanes)
    height = 50 + 22 * (len(rows) + 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="sequence diagram of {_e(cid)}">',
             '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for name, x in col.items():
        parts.append(f'<text x="{x}" y="16" text-anchor="middle" font-size="12" '
                     f'font-weight="600">{_e(name)}</text>')
        parts.append(f'<line x1="{x}" y1="24" x2="{x}" y2="{height - 6}" stroke="#bbb" '
                     'stroke-dasharray="4 3"/>')
    for i, e in enumerate(rows):
        y = 40 + 22 * i
        kind = e.get("kind")
        t = f'{float(e.get("time", 0)) * 1000:.1f}ms'
        parts.append(f'<text x="4" y="{y + 4}" font-size="10" fill="#888">{t}</text>')
        agent = e.get("agent") or queue_agent.get(str(e.get("queue")), "")
        x = col.get(agent, col.get("workload", 90))
        if kind == "publish":
            src = col.get(str(e.get("producer")), col.get("workload", 90))
            dst = col.get(queue_agent.get(str(e.get("queue")), ""), src)
            label = f'{e.get("type")}@{e.get("schema_version")}'
            parts.append(f'<line x1="{src}" y1="{y}" x2="{dst}" y2="{y}" stroke="#555" '
                         'marker-end="url(#a)"/>')
            parts.append(f'<text x="{(src + dst) / 2}" y="{y - 3}" text-anchor="middle" '
                         f'font-size="10">{_e(label)}</text>')
            continue
        color, label = "#333", kind
        if kind == "ingress":
            x, label = col.get("workload", 90), f"ingress (expect {e.get('expect')})"
        elif kind == "deliver":
            label = f"deliver #{e.get('delivery_count')}"
        elif kind == "ack":
            label = f"ack {e.get('latency_ms')}ms" + (" (fallback)" if e.get("fallback") else "")
        elif kind == "effect":
            label = f"effect {e.get('effect')} {'applied' if e.get('applied') else 'skipped'}"
            color = "#17803d" if e.get("applied") else "#777"
        elif kind == "outcome":
            label, color = f"OUTCOME {e.get('outcome')}", "#1f4fb3"
        elif kind == "dead_letter":
            label, color = f"DEAD LETTER {e.get('reason')}", "#c62828"
        elif kind in ("fault_start", "fault_end"):
            label = f"FAULT {e.get('fault')}" + (" ends" if kind == "fault_end" else "")
            color = "#d84315"
            x = col.get(str(e.get("agent") or queue_agent.get(str(e.get("target")), "")), x)
        elif kind == "agent_crash":
            label, color = "CRASH", "#d84315"
        elif kind == "fallback":
            label, color = f"fallback {e.get('dependency')}", "#b26a00"
        parts.append(f'<circle cx="{x}" cy="{y}" r="4" fill="{color}"/>')
        parts.append(f'<text x="{x + 8}" y="{y + 4}" font-size="11" fill="{color}">'
                     f'{_e(label)}</text>')
    parts.append("</svg>")
    return (f"<h3>{_e(cid)} <small>({_e(why)})</small></h3>" + "".join(parts))


def _histogram(agent: str, values: list[float], budget: float | None) -> str:
    if not values:
        return ""
    top = max(max(values), budget or 0) * 1.05 or 1.0
    bins = [0] * 24
    for v in values:
        bins[min(23, int(v / top * 24))] += 1
    peak = max(bins) or 1
    w, h = 300, 120
    bar = (w - 40) / 24
    parts = [f'<div class="hist"><svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
             f'height="{h + 30}" role="img" aria-label="latency histogram {_e(agent)}">',
             f'<text x="4" y="12" font-size="12" font-weight="600">{_e(agent)} '
             f'(n={len(values)})</text>']
    for i, n in enumerate(bins):
        bh = (h - 30) * n / peak
        parts.append(f'<rect x="{30 + i * bar:.1f}" y="{h - bh:.1f}" width="{bar - 1:.1f}" '
                     f'height="{bh:.1f}" fill="#5c7cfa"><title>{n}</title></rect>')
    parts.append(f'<line x1="30" y1="{h}" x2="{w - 10}" y2="{h}" stroke="#333"/>')
    parts.append(f'<text x="30" y="{h + 14}" font-size="10">0</text>')
    parts.append(f'<text x="{w - 10}" y="{h + 14}" font-size="10" text-anchor="end">'
                 f'{top:.0f} ms</text>')
    if budget:
        bx = 30 + (w - 40) * budget / top
        parts.append(f'<line x1="{bx:.1f}" y1="20" x2="{bx:.1f}" y2="{h}" stroke="#c62828" '
                     f'stroke-dasharray="3 2"/><text x="{bx:.1f}" y="{h + 26}" font-size="10" '
                     f'fill="#c62828" text-anchor="middle">budget {budget:.0f}</text>')
    parts.append("</svg></div>")
    return "".join(parts)


def render_html(result: dict[str, Any], events: list[dict[str, Any]], *,
                max_diagrams: int = 8) -> str:
    """The report page for a run (``RunResult.to_dict()``) or a check (same keys, no plan)."""
    verdicts = result.get("verdicts") or {}
    exp = result.get("experiment") or {}
    title = exp.get("title") or result.get("history") or "chaos run"
    lanes = ["workload"]
    queue_agent: dict[str, str] = {}
    for e in events:
        if e.get("kind") == "agent_start" and e.get("agent") not in lanes:
            lanes.append(e["agent"])
        if e.get("kind") == "deliver" and e.get("agent") and e.get("queue"):
            queue_agent.setdefault(e["queue"], e["agent"])
    for e in events:
        if e.get("kind") == "deliver" and e.get("agent") not in lanes:
            lanes.append(e["agent"])
    valid = result.get("valid")
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{_e(title)}</h1><p>Verdict: <span class={_label(valid)}>{_label(valid)}</span>"
           f" &middot; seed {_e(result.get('seed'))} &middot; broker {_e(result.get('broker'))}"
           f" &middot; {len(events)} events</p>"]
    if result.get("expected"):
        met = result.get("expectation_met")
        out.append(f"<p>Expected: {_e(json.dumps(result['expected']))} &rarr; "
                   f"<span class={'valid' if met else 'invalid'}>"
                   f"{'as expected' if met else 'NOT as expected'}</span></p>")
    out.append("<h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>counts</th>"
               "<th>examples</th></tr>")
    for name, v in verdicts.items():
        out.append(f"<tr><td>{_e(name)}</td><td class={_label(v.get('valid'))}>"
                   f"{_label(v.get('valid'))}</td><td><pre>"
                   f"{_e(json.dumps(v.get('counts'), indent=1, default=str))}</pre></td><td><pre>"
                   f"{_e(json.dumps(v.get('examples'), indent=1, default=str)[:4000])}"
                   f"{_e(v.get('error') or '')}</pre></td></tr>")
    out.append("</table>")
    failing = _failing_cids(verdicts, max_diagrams)
    out.append("<h2>Failing correlations</h2>")
    if not failing:
        out.append("<p>None.</p>")
    for cid, why in failing:
        out.append(_sequence(cid, why, events, lanes, queue_agent))
    out.append("<h2>Latency per agent</h2>")
    start = next((e for e in events[:5] if e.get("kind") == "run_start"), {})
    budgets = start.get("budgets") or {}
    per: dict[str, list[float]] = {}
    for e in events:
        if e.get("kind") == "ack" and isinstance(e.get("latency_ms"), (int, float)):
            per.setdefault(str(e.get("agent")), []).append(float(e["latency_ms"]))
    for agent in lanes[1:]:
        b = (budgets.get(agent) or {}).get("p99_ms")
        out.append(_histogram(agent, per.get(agent, []), b))
    plan = result.get("plan") or []
    if plan:
        out.append("<h2>Fault plan</h2><table><tr><th>id</th><th>fault</th><th>target</th>"
                   "<th>window (s)</th><th>probability</th><th>fired</th></tr>")
        fired = result.get("fired") or {}
        for f in plan:
            out.append(f"<tr><td>{_e(f['id'])}</td><td>{_e(f['fault'])}</td>"
                       f"<td>{_e(f['target'])}</td><td>{_e(f['start'])} &ndash; "
                       f"{_e(f['end'] if f['end'] is not None else 'end')}</td>"
                       f"<td>{_e(f['probability'])}</td><td>{_e(fired.get(f['id'], ''))}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_html(result: dict[str, Any], events: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render_html(result, events), encoding="utf-8")
    return path
