"""Checker ``trace``: every message leads back to its ingress through an unbroken chain.

Messages are the ``ingress`` inputs and every ``publish``ed envelope. For each message an agent
published (producer other than ``workload``):

- orphan_correlation: its correlation id is missing or names no ingress input;
- missing_causation: it has no causation id;
- gap: its causation id names no known message (a hole in the chain);
- correlation_changed: its cause belongs to another correlation.

A ``resubmit`` fault's copy is a known message; with a new correlation id it starts a
correlation of its own (a client's retry enters like an input).

Also: unknown_delivery (an agent got a message id that was never published or ingressed, and no
fault injected it) and orphan_effect (an effect or outcome for a correlation that never entered).

A message an agent process published and died (SIGKILL) before recording (its ``intent`` line
is alone) is known from the intent, which carries its identities: checked like a publish and
counted as crash_unrecorded (not a problem).

Counts: messages, checked, crash_unrecorded, and one per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.checkers.reference.base import Examples, Verdict, as_events, limit_of
from tests.checkers.reference.facts import crash_gaps

__all__ = ["check"]

PROBLEMS = ("orphan_correlation", "missing_causation", "gap", "correlation_changed",
            "unknown_delivery", "orphan_effect")


def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
    events = as_events(history)
    ex = Examples(limit_of(opts))
    ingress: set[str] = set()
    known: dict[str, Any] = {}  # message id -> correlation id
    published: list[dict[str, Any]] = []
    delivered: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    injected: set[str] = set()
    for e in events:
        kind = e.get("kind")
        if kind == "ingress":
            cid = e.get("correlation_id")
            if cid:
                ingress.add(cid)
            if e.get("message_id"):
                known[e["message_id"]] = cid
        elif kind == "publish":
            mid = e.get("message_id")
            if mid:
                known.setdefault(mid, e.get("correlation_id"))
            if e.get("producer") not in (None, "workload"):
                published.append(e)
        elif kind == "deliver":
            if e.get("message_id"):
                delivered.append(e)
        elif kind in ("effect", "outcome"):
            effects.append(e)
        elif kind == "fault_start" and e.get("message_id"):
            injected.add(e["message_id"])
            if e.get("copy_message_id"):  # a resubmission: a message (and input) of its own
                known[e["copy_message_id"]] = e.get("copy_correlation_id")
                if e.get("copy_correlation_id"):
                    ingress.add(e["copy_correlation_id"])
    # a publish whose process wrote its intent, then died (or failed) before recording it: the
    # intent names the message and its lineage, so it is a known message, checked like one
    gaps = crash_gaps(events)
    cut = [e for mid, e in (*gaps.publishes_died.items(), *gaps.publishes_open.items())
           if mid not in known]
    for e in cut:
        known[e["message_id"]] = e.get("correlation_id")
    published.extend(cut)
    seen: set[Any] = set()
    for e in published:
        mid = e.get("message_id")
        if mid in seen:
            continue
        seen.add(mid)
        cid = e.get("correlation_id")
        where = {"message_id": mid, "type": e.get("type"), "producer": e.get("producer"),
                 "correlation_id": cid, "index": e.get("index")}
        if not cid or cid not in ingress:
            ex.add("orphan_correlation", where)
            continue
        cause = e.get("causation_id")
        if not cause:
            ex.add("missing_causation", where)
        elif cause not in known:
            ex.add("gap", {**where, "causation_id": cause})
        elif known[cause] != cid:
            ex.add("correlation_changed", {**where, "causation_id": cause,
                                           "cause_correlation_id": known[cause]})
    for e in delivered:
        mid = e["message_id"]
        if mid not in known and mid not in injected:
            ex.add("unknown_delivery", {"message_id": mid, "agent": e.get("agent"),
                                        "correlation_id": e.get("correlation_id"),
                                        "index": e.get("index")})
    for e in effects:
        cid = e.get("correlation_id")
        if cid not in ingress:
            ex.add("orphan_effect", {"correlation_id": cid, "agent": e.get("agent"),
                                     "effect": e.get("effect") or e.get("outcome"),
                                     "index": e.get("index")})
    counts: dict[str, Any] = {"messages": len(known), "checked": len(seen),
                              "crash_unrecorded": len(cut)}
    counts.update({p: ex.n(p) for p in PROBLEMS})
    return Verdict(not ex, counts, ex.items)
