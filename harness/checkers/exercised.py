"""Checker ``exercised``: the run did what its experiment planned, and what it covered.

A fault that never fired proves nothing: a run whose planned fault never fired on the hop it
targets is **vacuous**, so this checker says ``unknown`` (never valid) and names the fault. It
always runs (like ``history``). Its report (:func:`report`, also in ``results.json``) says what
the run exercised:

- types: per hop (agent), the message types and versions delivered to it;
- faults: per hop, how often each fault fired (``fault_start`` events);
- plan: every planned fault with its firings; vacuous: those that never fired;
- bands: per partitioned ingress field, how many inputs fell in each band (from the
  ``experiment`` note; docs/detection.md).

A history without an ``experiment`` note planned nothing: valid. Option ``allow_unfired``: fault
ids or fault names that may legitimately not fire. One pass: O(n).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat
from operator import contains, itemgetter
from typing import Any

from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of

Event = dict[str, Any]

__all__ = ["check", "report"]

_AGENT_QUEUE = itemgetter("agent", "queue")


class Report(stream.Judge):
    """What a run exercised, per hop, read in one pass (see :func:`report`)."""

    kinds = frozenset({"deliver", "fault_start", "note"})
    cost = 0.2
    ahead = False  # reads its Facts only in its verdict

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        group = by_kind.get("deliver")  # deliveries, faults and notes: independent
        if group:
            self._deliveries(group)
        for kind in ("fault_start", "note"):
            group = by_kind.get(kind)
            if group:
                self.feed(group)

    def _deliveries(self, events: list[Event]) -> None:
        """:meth:`feed` for deliveries that carry no type: only the first agent seen on
        each queue is kept, so each distinct (agent, queue) is looked at once."""
        try:
            if any(map(contains, events, repeat("type"))):
                raise KeyError("type")
            pairs = dict.fromkeys(map(_AGENT_QUEUE, events))
        except (KeyError, TypeError):  # typed, a field missing or odd: one at a time
            self.feed(events)
            return
        queue_agent = self.queue_agent
        for agent, queue in pairs:
            if queue:
                queue_agent.setdefault(str(queue), str(agent))

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.plan: list[Mapping[str, Any]] = []
        self.band_counts: dict[str, Any] = {}
        self.queue_agent: dict[str, str] = {}
        self.types: dict[str, dict[str, int]] = {}
        self.faults: dict[str, dict[str, int]] = {}
        self.fired: dict[str, int] = {}

    def feed(self, events: list[Event]) -> None:
        types, fired, faults = self.types, self.fired, self.faults
        for e in events:
            kind = e.get("kind")
            if kind == "deliver":
                agent = str(e.get("agent"))
                if e.get("queue"):
                    self.queue_agent.setdefault(str(e["queue"]), agent)
                if e.get("type"):
                    label = f"{e['type']}@{e.get('schema_version')}"
                    hop = types.setdefault(agent, {})
                    hop[label] = hop.get(label, 0) + 1
            elif kind == "fault_start":
                fid = str(e.get("fault_id") or e.get("fault"))
                fired[fid] = fired.get(fid, 0) + 1
                target = str(e.get("agent") or e.get("target") or "*")
                hop = faults.setdefault(target, {})
                hop[str(e.get("fault"))] = hop.get(str(e.get("fault")), 0) + 1
            elif kind == "note" and e.get("note") == "experiment":
                self.plan = [p for p in e.get("plan") or [] if isinstance(p, Mapping)]
                self.band_counts = e.get("bands") or {}

    def verdict(self, info: stream.Info) -> dict[str, Any]:
        by_agent: dict[str, dict[str, int]] = {}
        for target, counts in self.faults.items():  # message faults name the queue: its agent
            agent = self.queue_agent.get(target, target)
            merged = by_agent.setdefault(agent, {})
            for fault, n in counts.items():
                merged[fault] = merged.get(fault, 0) + n
        planned = [{"id": p.get("id"), "fault": p.get("fault"), "target": p.get("target"),
                    "fired": self.fired.get(str(p.get("id")), 0)} for p in self.plan]
        return {"types": self.types, "faults": by_agent, "plan": planned,
                "vacuous": [p for p in planned if not p["fired"]], "bands": self.band_counts}


_report = stream.judged(Report)


def report(history: Any) -> dict[str, Any]:
    """What a run exercised, per hop (pure, one pass)."""
    return _report(history, {})  # type: ignore[no-any-return]


class Judge(Report):
    """Planned faults fired, bands covered (module docstring)."""

    def verdict(self, info: stream.Info) -> Verdict:  # type: ignore[override]
        return _judge_report(super().verdict(info), self.opts)


def _judge_report(rep: dict[str, Any], opts: Mapping[str, Any]) -> Verdict:
    ex = Examples(limit_of(opts))
    allowed = {str(a) for a in opts.get("allow_unfired") or ()}
    vacuous = [p for p in rep["vacuous"]
               if str(p["id"]) not in allowed and str(p["fault"]) not in allowed]
    for p in vacuous:
        ex.add("vacuous", {"fault_id": p["id"], "fault": p["fault"], "target": p["target"]})
    for name, band in (rep["bands"] or {}).items():
        for label, n in (band or {}).items():
            if not n:
                ex.add("unexercised_band", {"field": name, "band": label})
    counts: dict[str, Any] = {
        "planned": len(rep["plan"]), "fired": sum(1 for p in rep["plan"] if p["fired"]),
        "vacuous": len(vacuous), "hops": len(rep["types"]),
        "types": sum(len(t) for t in rep["types"].values()),
        "unexercised_bands": ex.n("unexercised_band")}
    error = None
    if vacuous:
        error = "vacuous: planned faults never fired: " + ", ".join(
            str(p["id"]) for p in vacuous[:5])
    return Verdict(UNKNOWN if vacuous else True, counts, ex.items, error)


check = stream.judged(Judge)
