"""Checker ``dead_letters``: every dead letter keeps its original bytes, correlation id and reason.

For each ``dead_letter`` event:

- missing_reason: no machine-readable reason;
- missing_correlation_id: no correlation id (an incident without it is un-debuggable);
- missing_body: the original bytes are not kept (neither ``body`` nor, for large ones,
  ``body_len``);
- altered_body: the kept bytes differ from the bytes that were sent (known from the ingress
  event, the publish event's ``body`` or the fault that injected the message).

Counts: dead_letters, by_reason, and one per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checkers import stream
from harness.checkers.base import Examples, Verdict, limit_of

Event = dict[str, Any]

__all__ = ["check"]

PROBLEMS = ("missing_reason", "missing_correlation_id", "missing_body", "altered_body")


class Judge(stream.Judge):
    """Every dead letter keeps its bytes, correlation id and reason (module docstring). Only
    the bodies sent under the ids that dead letters name are kept."""

    kinds = frozenset({"ingress", "publish", "fault_start", "dead_letter"})
    rare = stream.RARE  # reads the dead letters before the pass (Facts)
    cost = 0.2

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # the bodies sent are looked up only at the end: each kind on its own (and only the
        # dead letters when no dead letter names an id: no body sent is wanted)
        for kind in (("ingress", "publish", "fault_start", "dead_letter") if self.wanted
                     else ("dead_letter",)):
            group = by_kind.get(kind)
            if group:
                self.feed(group)

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.wanted: set[Any] = set()
        for e in facts.dead_letters:
            for ident in (e.get("message_id"), e.get("correlation_id")):
                try:
                    if ident:
                        self.wanted.add(ident)
                except TypeError:
                    pass
        self.sent: dict[str, set[str]] = {}  # message or correlation id -> bodies on the wire
        self.dead: list[dict[str, Any]] = []

    def feed(self, events: list[Event]) -> None:
        sent, wanted = self.sent, self.wanted
        for e in events:
            kind = e.get("kind")
            if kind in ("ingress", "publish", "fault_start") and e.get("body"):
                idents = ((e.get("copy_message_id"), e.get("copy_correlation_id"))
                          if e.get("copy_message_id")  # a resubmission's bytes are the copy's
                          else (e.get("message_id"), e.get("correlation_id")))
                for ident in idents:
                    if ident and ident in wanted:
                        sent.setdefault(ident, set()).add(e["body"])
            elif kind == "dead_letter":
                self.dead.append(e)

    def verdict(self, info: stream.Info) -> Verdict:
        ex = Examples(limit_of(self.opts))
        sent = self.sent
        reasons: dict[str, int] = {}
        for e in self.dead:
            reason = e.get("reason")
            reasons[str(reason)] = reasons.get(str(reason), 0) + 1
            where = {"correlation_id": e.get("correlation_id"), "queue": e.get("queue"),
                     "reason": reason, "index": e.get("index")}
            if not reason:
                ex.add("missing_reason", where)
            if not e.get("correlation_id"):
                ex.add("missing_correlation_id", where)
            body = e.get("body")
            if not body:
                if not e.get("body_len"):
                    ex.add("missing_body", where)
                continue
            known = None
            mid = e.get("message_id")
            if mid and mid in sent:
                known = sent[mid]
            elif e.get("correlation_id") in sent and not mid:
                known = sent[e["correlation_id"]]
            if known is not None and body not in known:
                # the message may have been published under another id of the same correlation
                others = sent.get(e.get("correlation_id") or "", set())
                if body not in others:
                    ex.add("altered_body", {**where, "message_id": mid})
        counts: dict[str, Any] = {"dead_letters": len(self.dead),
                                  "by_reason": dict(sorted(reasons.items()))}
        counts.update({p: ex.n(p) for p in PROBLEMS})
        return Verdict(not ex, counts, ex.items)


check = stream.judged(Judge)
