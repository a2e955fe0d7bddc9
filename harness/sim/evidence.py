"""Incident files from recorded evidence: a history, a dead-letter queue, OTLP traces.

Each importer turns evidence into an :class:`Incident`: the inputs the evidence recorded (exact
envelopes or bytes), the faults it recorded pinned to their messages, and the verdict it
recorded. :func:`write_incident` writes it as an incident file (an experiment with
``simulate: true``, inline ``workload.inputs``, a pinned ``method`` and ``expect`` = the recorded
verdict), so ``harness chaos run INCIDENT`` reproduces the verdict (``expectation_met``) and
``--variant AGENT=REF`` shows a fixed agent.

Faults recorded by the harness (``fault_start`` with a ``message_id``) are pinned as they fired.
A history without them (an ordinary run, production) is read for what the broker did: a
message delivered again to the same agent was not acked the first time, so the agent is made to
crash on that message (``crash_after_effect`` when it had applied an effect, else
``crash_on_delivery``); a message published twice to the same queue is a ``duplicate``.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.chaos.inputs import item_to_dict
from harness.chaos.schedule import FaultSpec
from harness.errors import InputError
from harness.history import Event, read_history, unb64
from harness.sim.case import _agent_of_queue, _fault_doc, faults_from_history
from harness.workload import WorkItem

__all__ = ["Incident", "from_history", "incident_from_events", "write_incident"]


@dataclass
class Incident:
    """What the evidence recorded, ready to be written as an incident file."""

    pipeline: Path
    inputs: list[WorkItem]
    faults: list[FaultSpec]
    expect: dict[str, Any]
    source: str
    kind: str
    title: str = ""
    variants: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    rate: float = 0.0
    probes: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "evidence": self.kind, "pipeline": str(self.pipeline),
                "inputs": len(self.inputs), "faults": len(self.faults),
                "expect": self.expect, "variants": self.variants, "skipped": self.skipped}


def _note(events: list[Event]) -> dict[str, Any]:
    for e in events:
        if e.get("kind") == "note" and e.get("note") == "experiment":
            return dict(e.get("experiment") or {})
    return {}


def _item(cid: str, body: bytes, *, valid: bool, expect: str | None) -> WorkItem:
    from harness.chaos.inputs import item_from_dict

    raw = {"correlation_id": cid, "kind": "valid" if valid else "invalid",
           "body": base64.b64encode(body).decode("ascii"),
           "expect": expect or ("completed" if valid else "dead_lettered")}
    if valid and expect == "declined":
        raw["kind"] = "high_risk"
    return item_from_dict(raw, f"input {cid}")


def inputs_from_history(events: list[Event]) -> tuple[list[WorkItem], list[str]]:
    """The inputs a history recorded, with their exact bytes (ingress body, or the first
    recorded publish of the ingress message); correlations whose bytes are missing are named
    in the second list."""
    bodies: dict[str, str] = {}
    for e in events:
        if e.get("kind") == "publish" and e.get("body") and e.get("message_id"):
            bodies.setdefault(str(e["message_id"]), e["body"])
    items: list[WorkItem] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for e in events:
        if e.get("kind") != "ingress" or not e.get("correlation_id"):
            continue
        cid = str(e["correlation_id"])
        if cid in seen:
            continue
        seen.add(cid)
        body = e.get("body") or bodies.get(str(e.get("message_id")))
        if not body:
            skipped.append(cid)
            continue
        items.append(_item(cid, unb64(body), valid=bool(e.get("valid", True)),
                           expect=e.get("expect")))
    return items, skipped


def inferred_faults(events: list[Event], queues: dict[str, str]) -> list[FaultSpec]:
    """Faults a history shows without naming them: redeliveries and duplicate publishes."""
    out: list[FaultSpec] = []
    effects: set[tuple[str, str]] = set()
    deliveries: dict[tuple[str, str], int] = {}
    published: dict[tuple[str, str], int] = {}
    done: set[tuple[str, str, str]] = set()
    for e in events:
        kind, mid = e.get("kind"), e.get("message_id")
        if not mid:
            continue
        agent = e.get("agent")
        if kind == "effect" and agent:
            effects.add((agent, mid))
        elif kind == "deliver" and agent:
            n = deliveries[(agent, mid)] = deliveries.get((agent, mid), 0) + 1
            if n == 2 and (agent, mid, "crash") not in done:
                done.add((agent, mid, "crash"))
                fault = ("crash_after_effect" if (agent, mid) in effects
                         else "crash_on_delivery")
                out.append(FaultSpec(fault, agent, message=mid,
                                     correlation=e.get("correlation_id")))
        elif kind == "publish" and e.get("queue") and e.get("producer") != "workload":
            key = (str(e["queue"]), mid)
            n = published[key] = published.get(key, 0) + 1
            if n == 2:
                out.append(FaultSpec("duplicate", _agent_of_queue(key[0], queues), message=mid,
                                     correlation=e.get("correlation_id")))
    return out


def from_history(path: str | Path, *, pipeline: str | Path | None = None,
                 variants: dict[str, str] | None = None) -> Incident:
    """An incident from a history file (a chaos run's, an ordinary run's, production's).

    Raises:
        InputError: no pipeline to run it on, or no input whose bytes were recorded.
    """
    from harness.chaos.analyze import check_history
    from harness.checkers import overall

    path = Path(path)
    events = read_history(path).events
    checked = check_history(path)
    verdicts = {n: v for n, v in checked["verdicts"].items() if n != "history"}
    if not _note(events).get("simulated"):
        # A wall-clock run's latencies include CPU time and broker round trips that a
        # simulation does not model: its latency verdict cannot be reproduced, so it is left out.
        verdicts.pop(WALL_CLOCK_CHECKER, None)
    expect = recorded_expect(verdicts, overall(verdicts))
    return incident_from_events(events, source=str(path), kind="history", pipeline=pipeline,
                                variants=variants, expect=expect, probes=list(verdicts))


#: the checker whose verdict depends on wall time (left out of incidents from wall-clock runs)
WALL_CLOCK_CHECKER = "latency"


def recorded_expect(verdicts: dict[str, Any], valid: Any) -> dict[str, Any]:
    """``expect`` for the recorded verdict: valid, and the checkers that found it invalid."""
    caught = [n for n, v in verdicts.items() if getattr(v, "valid", None) is False]
    expect: dict[str, Any] = {"valid": valid}
    if caught:
        expect["caught_by"] = caught
    return expect


def incident_from_events(events: list[Event], *, source: str, kind: str,
                         pipeline: str | Path | None, variants: dict[str, str] | None,
                         expect: dict[str, Any], probes: list[str]) -> Incident:
    """The incident of history events (read from a file, or rebuilt from traces)."""
    from harness.pipeline import load_pipeline

    note = _note(events)
    pipe = Path(pipeline).resolve() if pipeline else (
        Path(note["pipeline"]) if note.get("pipeline") else None)
    if pipe is None or not pipe.is_file():
        raise InputError("the evidence names no pipeline file that exists here: give "
                         "--pipeline PIPELINE.yaml", where=source)
    chosen = dict(note.get("variants") or {})
    chosen.update(variants or {})
    chosen = {a: r for a, r in chosen.items() if r}
    spec = load_pipeline(pipe, overrides=chosen or None)
    queues = {name: a.queue for name, a in spec.agents.items()}
    inputs, skipped = inputs_from_history(events)
    if not inputs:
        raise InputError("no input's bytes are recorded in this evidence (ingress events with "
                         "a body, or publish events with the input's bytes)", where=source)
    if any(e.get("kind") == "fault_start" for e in events):
        plan = next((e.get("plan") for e in events if e.get("kind") == "note"
                     and e.get("note") == "experiment"), None) or []
        faults = faults_from_history(events, plan, queues)
    else:
        faults = inferred_faults(events, queues)
    ingress = [float(e.get("time", 0)) for e in events if e.get("kind") == "ingress"]
    span = (max(ingress) - min(ingress)) if len(ingress) > 1 else 0.0
    rate = round((len(ingress) - 1) / span, 3) if span > 0 else 0.0
    seed = int(note.get("seed") or next((e.get("seed") for e in events
                                         if e.get("kind") == "run_start"), 0) or 0)
    name = Path(source).name
    return Incident(pipeline=pipe, inputs=inputs, faults=faults, expect=expect,
                    source=source, kind=kind, variants=chosen, seed=seed, rate=rate,
                    probes=probes, skipped=skipped,
                    title=f"incident from {name}" + (f": {note['title']}"
                                                     if note.get("title") else ""))


def write_incident(incident: Incident, out: str | Path) -> Path:
    """Write the incident file (paths relative to it)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "title": incident.title or f"incident from {incident.source}",
        "description": (f"Built by harness incident from-{incident.kind} from "
                        f"{incident.source}: {len(incident.inputs)} recorded inputs, "
                        f"{len(incident.faults)} recorded faults pinned to their messages; "
                        f"expect is the recorded verdict."),
        "pipeline": os.path.relpath(incident.pipeline, out.parent),
    }
    if incident.variants:
        doc["variants"] = dict(incident.variants)
    doc.update({
        "seed": incident.seed,
        "simulate": True,
        "workload": {"rate": incident.rate,
                     "inputs": [item_to_dict(i) for i in incident.inputs]},
    })
    if incident.probes:
        doc["steady-state-hypothesis"] = {"probes": list(incident.probes)}
    doc["method"] = [_fault_doc(f) for f in incident.faults]
    doc["expect"] = dict(incident.expect)
    doc["settle_timeout"] = 20
    out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
                   encoding="utf-8")
    return out
