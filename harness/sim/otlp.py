"""A history as OpenTelemetry traces (OTLP JSON), and an incident from such traces.

``export_otlp`` writes one ``TracesData`` JSON document per line (the collector file exporter's
``format: json``): one trace per correlation (the input envelope's W3C trace id, so spans that
agents propagating trace context export themselves join it), a producer span for
the input (``ingress <type>``, carrying its bytes in ``harness.input.body``), one consumer span
per handling (deliver -> ack / nack / dead letter / crash) whose parent is the handling that
emitted the message, and the faults as span events (``fault.<kind>``). Resource attributes hold
the run's pipeline, variants, seed, plan and recorded verdict, so ``from_otlp`` rebuilds the same
incident as ``from_history`` does from the history itself.

Traces from other sources (agents propagating W3C trace context, any collector) are read the
same way: consumer spans with ``messaging.message.id`` and ``messaging.destination.name`` are
handlings; the inputs need their bytes (``harness.input.body``, base64) on some span.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.envelope import derive_id
from harness.errors import InputError
from harness.history import Event, read_history, unb64
from harness.sim.evidence import Incident, incident_from_events

__all__ = ["export_otlp", "from_otlp", "spans_of"]

_SETTLE = {"ack": "ack", "nack": "nack", "dead_letter": "dead_letter", "agent_crash": "crash"}


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"), default=str)
    return {"key": key, "value": {"stringValue": value}}


def _value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    return None


def _attrs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value") or {}) for a in items or [] if "key" in a}


def _base_ns(events: list[Event]) -> int:
    """Unix ns of history time 0: from the first input's produced_at when it is there."""
    from datetime import datetime

    for e in events:
        if e.get("kind") == "publish" and e.get("producer") == "workload" and e.get("body"):
            try:
                at = json.loads(unb64(e["body"]))["produced_at"]
                wall = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
                return int((wall - float(e.get("time", 0))) * 1e9)
            except Exception:
                break
    return 0


def spans_of(events: list[Event]) -> tuple[list[dict[str, Any]], int]:
    """OTLP spans for a history's events (and how many traces they make)."""
    base = _base_ns(events)
    ns = lambda t: str(base + round(float(t) * 1e9))  # noqa: E731
    trace_of: dict[str, str] = {}
    handling_of: dict[str, str] = {}  # message id -> span id of its first handling
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    spans: list[dict[str, Any]] = []
    bodies: dict[str, str] = {}
    for e in events:
        if e.get("kind") == "publish" and e.get("message_id") and e.get("body"):
            bodies.setdefault(str(e["message_id"]), e["body"])
    for e in events:
        kind, cid, mid = e.get("kind"), e.get("correlation_id"), e.get("message_id")
        if not cid:
            continue
        if cid not in trace_of and kind == "ingress":
            trace_of[cid] = _trace_id(e.get("body") or bodies.get(str(mid))) or derive_id(
                "trace", cid)
        trace = trace_of.setdefault(cid, derive_id("trace", cid))
        if kind == "ingress":
            span_id = derive_id("span", cid, "ingress", length=16)
            handling_of.setdefault(f"ingress:{cid}", span_id)
            body = e.get("body") or bodies.get(str(mid))
            attrs = [_attr("harness.correlation_id", cid), _attr("harness.input.valid",
                                                                 bool(e.get("valid", True)))]
            if mid:
                attrs.append(_attr("messaging.message.id", mid))
            if e.get("expect"):
                attrs.append(_attr("harness.input.expect", e["expect"]))
            if body:
                attrs.append(_attr("harness.input.body", body))
            spans.append({"traceId": trace, "spanId": span_id, "parentSpanId": "",
                          "name": f"ingress {e.get('type') or 'input'}", "kind": 4,
                          "startTimeUnixNano": ns(e["time"]), "endTimeUnixNano": ns(e["time"]),
                          "attributes": attrs, "events": [], "status": {"code": 0}})
        elif kind == "deliver" and e.get("agent") and mid:
            key = (str(e["agent"]), str(mid))
            count = int(e.get("delivery_count") or 1)
            span_id = derive_id("span", cid, e["agent"], mid, count, e["index"], length=16)
            cause = e.get("causation_id")
            parent = handling_of.get(str(cause)) if cause else handling_of.get(f"ingress:{cid}")
            span: dict[str, Any] = {
                    "traceId": trace, "spanId": span_id, "parentSpanId": parent or "",
                    "name": f"{e['agent']} handle {e.get('type') or 'message'}", "kind": 5,
                    "startTimeUnixNano": ns(e["time"]), "endTimeUnixNano": ns(e["time"]),
                    "attributes": [_attr("harness.agent", e["agent"]),
                                   _attr("harness.correlation_id", cid),
                                   _attr("messaging.message.id", mid),
                                   _attr("messaging.destination.name", e.get("queue", "")),
                                   _attr("harness.delivery_count", count)],
                    "events": [], "status": {"code": 0}, "_effects": 0}
            if cause:
                span["attributes"].append(_attr("harness.causation_id", cause))
            handling_of.setdefault(str(mid), span_id)
            open_[key] = span
            spans.append(span)
        elif e.get("agent") and mid and (str(e["agent"]), str(mid)) in open_:
            span = open_[(str(e["agent"]), str(mid))]
            if kind == "effect" and e.get("applied"):
                span["_effects"] += 1
            if kind in ("fault_start",):
                span["events"].append(_fault_event(e, ns))
            if kind in _SETTLE:
                span["endTimeUnixNano"] = ns(e["time"])
                span["attributes"].append(_attr("harness.settled", _SETTLE[kind]))
                if kind == "dead_letter":
                    span["status"] = {"code": 2, "message": f"dead-lettered: {e.get('reason')}"}
                del open_[(str(e["agent"]), str(mid))]
        elif kind == "fault_start" and mid:
            target = handling_of.get(str(mid))
            holder = next((s for s in spans if s["spanId"] == target), None) if target else None
            holder = holder or next((s for s in reversed(spans) if s["traceId"] == trace), None)
            if holder is not None:
                holder["events"].append(_fault_event(e, ns))
    for span in spans:
        effects = span.pop("_effects", 0)
        if effects:
            span["attributes"].append(_attr("harness.effects", effects))
    return spans, len(trace_of)


def _trace_id(body_b64: str | None) -> str | None:
    """The W3C trace id an input envelope carries (so agents' own spans join the trace)."""
    if not body_b64:
        return None
    try:
        parent = json.loads(unb64(body_b64))["trace"]["traceparent"]
        trace = parent.split("-")[1]
    except Exception:
        return None
    return trace if len(trace) == 32 and trace != "0" * 32 else None


def _fault_event(e: Event, ns: Any) -> dict[str, Any]:
    keys = ("fault", "fault_id", "target", "agent", "message_id", "correlation_id", "params",
            "copies", "mode", "point")
    return {"timeUnixNano": ns(e["time"]), "name": f"fault.{e.get('fault')}",
            "attributes": [_attr(f"harness.{k}", e[k]) for k in keys if e.get(k) is not None]}


def export_otlp(history: str | Path, out: str | Path) -> dict[str, Any]:
    """Write a history as OTLP JSON (one TracesData per line). Returns {spans, traces, out}."""
    from harness.chaos.analyze import check_history

    events = read_history(history).events
    spans, traces = spans_of(events)
    note = next((e for e in events if e.get("kind") == "note"
                 and e.get("note") == "experiment"), {})
    experiment = dict(note.get("experiment") or {})
    from harness.checkers import overall
    from harness.sim.evidence import WALL_CLOCK_CHECKER, recorded_expect

    checked = check_history(history)
    verdicts = {n: v for n, v in checked["verdicts"].items() if n != "history"}
    if not experiment.get("simulated"):
        verdicts.pop(WALL_CLOCK_CHECKER, None)  # as from_history does (not reproducible)
    verdict = {**recorded_expect(verdicts, overall(verdicts)), "checkers": list(verdicts)}
    resource = [_attr("service.name", "harness"),
                _attr("harness.pipeline", experiment.get("pipeline") or ""),
                _attr("harness.variants", experiment.get("variants") or {}),
                _attr("harness.seed", int(experiment.get("seed") or 0)),
                _attr("harness.title", experiment.get("title") or ""),
                _attr("harness.plan", note.get("plan") or []),
                _attr("harness.verdict", verdict)]
    doc = {"resourceSpans": [{"resource": {"attributes": resource},
                              "scopeSpans": [{"scope": {"name": "harness"}, "spans": spans}]}]}
    out = Path(out)
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    return {"spans": len(spans), "traces": traces, "out": str(out)}


def _read_traces(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", where=str(path)) from exc
    docs: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == 1:
                try:  # one pretty-printed document
                    return [json.loads(text)]
                except json.JSONDecodeError:
                    pass
            raise InputError(f"not JSON: {exc.msg}", where=f"{path}:{n}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
            raise InputError("not OTLP JSON: no resourceSpans", where=f"{path}:{n}")
        docs.append(doc)
    return docs


def from_otlp(path: str | Path, *, pipeline: str | Path | None = None,
              variants: dict[str, str] | None = None) -> Incident:
    """An incident from OTLP JSON traces (harness export otlp, or any collector's file)."""
    path = Path(path)
    spans: list[tuple[dict[str, Any], dict[str, Any]]] = []
    resource: dict[str, Any] = {}
    for doc in _read_traces(path):
        for rs in doc["resourceSpans"]:
            res = _attrs((rs.get("resource") or {}).get("attributes"))
            resource.update({k: v for k, v in res.items() if k.startswith("harness.")})
            for ss in rs.get("scopeSpans") or []:
                for span in ss.get("spans") or []:
                    spans.append((span, res))
    events: list[Event] = []
    starts = [int(s.get("startTimeUnixNano") or 0) for s, _ in spans]
    origin = min(starts) if starts else 0

    def t(ns_text: Any) -> float:  # seconds since the first span, exact to the nanosecond
        return (int(ns_text or 0) - origin) / 1e9

    def add(kind: str, time: float, **fields: Any) -> None:
        events.append({"index": 0, "time": time, "kind": kind,
                       **{k: v for k, v in fields.items() if v is not None}})

    pipe = resource.get("harness.pipeline") or None
    if pipe:
        add("note", 0.0, note="experiment",
            experiment={"pipeline": pipe, "variants": _json(resource.get("harness.variants"), {}),
                        "seed": resource.get("harness.seed") or 0,
                        "title": resource.get("harness.title") or ""},
            plan=_json(resource.get("harness.plan"), []))
    for span, _res in spans:
        a = _attrs(span.get("attributes"))
        start = t(span.get("startTimeUnixNano"))
        cid = a.get("harness.correlation_id")
        mid = a.get("messaging.message.id")
        if span.get("kind") == 4 and ("harness.input.body" in a or "harness.input.valid" in a):
            add("ingress", start, correlation_id=cid, message_id=mid,
                valid=bool(a.get("harness.input.valid", True)),
                expect=a.get("harness.input.expect"), body=a.get("harness.input.body"))
        elif span.get("kind") == 5 and mid:
            agent = a.get("harness.agent") or (span.get("name") or "").split(" ")[0]
            add("deliver", start, agent=agent, message_id=mid, correlation_id=cid,
                causation_id=a.get("harness.causation_id"),
                queue=a.get("messaging.destination.name"),
                delivery_count=a.get("harness.delivery_count"))
            if a.get("harness.effects"):
                add("effect", start, agent=agent, message_id=mid, correlation_id=cid,
                    applied=True)
        for ev in span.get("events") or []:
            if not str(ev.get("name", "")).startswith("fault."):
                continue
            ea = {k.removeprefix("harness."): v for k, v in _attrs(ev.get("attributes")).items()}
            if "params" in ea:
                ea["params"] = _json(ea["params"], {})
            add("fault_start", t(ev.get("timeUnixNano")), **ea)
    events.sort(key=lambda e: (e["time"], 0 if e["kind"] == "note" else 1))
    verdict = _json(resource.get("harness.verdict"), None)
    if isinstance(verdict, dict):
        expect: dict[str, Any] = {"valid": verdict.get("valid", "unknown")}
        if verdict.get("caught_by"):
            expect["caught_by"] = list(verdict["caught_by"])
        probes = list(verdict.get("checkers") or [])
    else:  # traces from elsewhere: a dead-lettered or failed handling is the recorded failure
        failed = any((s.get("status") or {}).get("code") == 2 for s, _ in spans)
        expect, probes = {"valid": not failed}, []
    if not events:
        raise InputError("no spans in these traces", where=str(path))
    return incident_from_events(events, source=str(path), kind="otlp", pipeline=pipeline,
                                variants=variants, expect=expect, probes=probes)


def _json(value: Any, default: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return default
    return default if value is None else value
