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
from operator import itemgetter
from typing import Any

from harness.checkers import stream
from harness.checkers.base import Examples, Verdict, limit_of

Event = dict[str, Any]

__all__ = ["check"]

_ENTER = frozenset({"ingress", "fault_start"})
_ENDS = frozenset({"effect", "outcome"})
_MESSAGE_ID = itemgetter("message_id")
_CORRELATION_ID = itemgetter("correlation_id")
#: a publish's fields: what ``published`` keeps, then the message id
_PUBLISHED = itemgetter("type", "producer", "correlation_id", "index", "causation_id",
                        "message_id")
PROBLEMS = ("orphan_correlation", "missing_causation", "gap", "correlation_changed",
            "unknown_delivery", "orphan_effect")


class Judge(stream.Judge):
    """Every message leads back to its ingress (module docstring). Published messages,
    deliveries and effects are kept as small tuples until the end (a cause may be published
    after the message naming it)."""

    kinds = frozenset({"publish", "deliver", "ingress", "effect", "outcome", "fault_start"})
    cost = 1.0
    ahead = False  # reads its Facts only in its verdict

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.ingress: set[str] = set()
        # message id -> correlation id: a publish names it unless an input or a copy did
        # (those win, the last one), so the two are kept apart and merged at the end
        self.known: dict[str, Any] = {}  # by the first publish
        self.entered: dict[str, Any] = {}  # by ingress and resubmission, the last one
        self.published: dict[Any, tuple[Any, ...]] = {}  # first publish of each message id
        self.delivered: list[tuple[Any, ...]] = []
        self.effects: list[tuple[Any, ...]] = []
        self.injected: set[str] = set()

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # publishes, deliveries, inputs and effects are independent groups (every check
        # that looks across them is made at the end): each group on its own
        group = by_kind.get("publish")
        if group:
            self._publishes(group)
        group = by_kind.get("deliver")
        if group:
            self._deliveries(group)
        self.feed(stream.pick(events, by_kind, _ENTER))
        if not self._entered(by_kind.get("effect"), by_kind.get("outcome")):
            self.feed(stream.pick(events, by_kind, _ENDS))

    def _entered(self, *groups: list[Event] | None) -> bool:
        """Whether every event of ``groups`` names a correlation that entered (then
        :meth:`feed` would keep none of them)."""
        try:
            return all(self.ingress.issuperset(map(_CORRELATION_ID, g)) for g in groups if g)
        except (KeyError, TypeError):
            return False

    def _publishes(self, events: list[Event]) -> None:
        """:meth:`feed` for publishes, their fields read at once (all there, as recorded)."""
        rows = stream.rows(events, _PUBLISHED)
        if rows is None:  # a field missing: one event at a time
            self.feed(events)
            return
        known, published = self.known, self.published
        for mtype, producer, cid, index, cause, mid in rows:
            if mid and mid not in known:
                known[mid] = cid
            if producer not in (None, "workload") and mid not in published:
                published[mid] = (mtype, producer, cid, index, cause)

    def _deliveries(self, events: list[Event]) -> None:
        """:meth:`feed` for deliveries: only those of a message not known yet are kept (a set
        difference finds them; usually none)."""
        try:
            unknown = set(map(_MESSAGE_ID, events)).difference(self.known)
        except (KeyError, TypeError):  # a delivery without a message id, or an odd one
            self.feed(events)
            return
        if unknown:  # (one dict per difference: a second one would be iterated whole)
            unknown = unknown.difference(self.entered)
        if unknown:
            self.feed([e for e in events if e["message_id"] in unknown])

    def feed(self, events: list[Event]) -> None:
        ingress, known, published = self.ingress, self.known, self.published
        entered = self.entered
        for e in events:
            kind = e.get("kind")
            if kind == "publish":
                mid = e.get("message_id")
                if mid:
                    if mid not in known:
                        known[mid] = e.get("correlation_id")
                if e.get("producer") not in (None, "workload") and mid not in published:
                    published[mid] = (e.get("type"), e.get("producer"),
                                      e.get("correlation_id"), e.get("index"),
                                      e.get("causation_id"))
            elif kind == "deliver":
                mid = e.get("message_id")
                if mid and mid not in known and mid not in entered:  # decided at the end
                    self.delivered.append((mid, e.get("agent"), e.get("correlation_id"),
                                           e.get("index")))
            elif kind == "ingress":
                cid = e.get("correlation_id")
                if cid:
                    ingress.add(cid)
                if e.get("message_id"):
                    entered[e["message_id"]] = cid
            elif kind in ("effect", "outcome"):
                cid = e.get("correlation_id")
                if cid not in ingress:  # decided at the end: may enter later
                    self.effects.append((cid, e.get("agent"),
                                         e.get("effect") or e.get("outcome"), e.get("index")))
            elif kind == "fault_start" and e.get("message_id"):
                self.injected.add(e["message_id"])
                if e.get("copy_message_id"):  # a resubmission: a message (and input) of its own
                    entered[e["copy_message_id"]] = e.get("copy_correlation_id")
                    if e.get("copy_correlation_id"):
                        ingress.add(e["copy_correlation_id"])

    def verdict(self, info: stream.Info) -> Verdict:
        ex = Examples(limit_of(self.opts))
        ingress, known = self.ingress, self.known
        known.update(self.entered)
        # a publish whose process wrote its intent, then died (or failed) before recording it:
        # the intent names the message and its lineage, so it is a known message, checked
        gaps = info.tracker.gaps()
        cut = [e for mid, e in (*gaps.publishes_died.items(), *gaps.publishes_open.items())
               if mid not in known]
        for e in cut:
            known[e["message_id"]] = e.get("correlation_id")
        for e in cut:
            if e["message_id"] not in self.published:
                self.published[e["message_id"]] = (e.get("type"), e.get("producer"),
                                                   e.get("correlation_id"), e.get("index"),
                                                   e.get("causation_id"))
        for mid, (mtype, producer, cid, index, cause) in self.published.items():
            where = {"message_id": mid, "type": mtype, "producer": producer,
                     "correlation_id": cid, "index": index}
            if not cid or cid not in ingress:
                ex.add("orphan_correlation", where)
                continue
            if not cause:
                ex.add("missing_causation", where)
            elif cause not in known:
                ex.add("gap", {**where, "causation_id": cause})
            elif known[cause] != cid:
                ex.add("correlation_changed", {**where, "causation_id": cause,
                                               "cause_correlation_id": known[cause]})
        for mid, agent, cid, index in self.delivered:
            if mid not in known and mid not in self.injected:
                ex.add("unknown_delivery", {"message_id": mid, "agent": agent,
                                            "correlation_id": cid, "index": index})
        for cid, agent, effect, index in self.effects:
            if cid not in ingress:
                ex.add("orphan_effect", {"correlation_id": cid, "agent": agent,
                                         "effect": effect, "index": index})
        counts: dict[str, Any] = {"messages": len(known), "checked": len(self.published),
                                  "crash_unrecorded": len(cut)}
        counts.update({p: ex.n(p) for p in PROBLEMS})
        return Verdict(not ex, counts, ex.items)


check = stream.judged(Judge)
