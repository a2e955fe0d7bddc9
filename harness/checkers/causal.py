"""Checker ``causal``: the causal graph of a run is real, acyclic and consistent.

``trace`` asks whether every message leads back to its ingress; this one asks whether each
link in that chain could have happened. Messages are nodes, ``causation_id`` the edge to the
cause. For every message an agent published (producer other than ``workload``):

- cause_not_delivered: its cause was never delivered to the producer before the publish (it
  names a message the agent never consumed: a grandparent, another agent's input, a made-up id);
- published_after_settle: every delivery of its cause to the producer had already been acked,
  nacked or dead-lettered (an emission from a background task after the ack, lost on a crash);
- id_reused: one message id published with another type, correlation, cause or producer;
- cycle: following causes from it comes back to it (self-caused included).

For every ``effect`` (applied or skipped as a duplicate):

- effect_without_delivery: its message was never delivered to the agent that applied it;
- effect_outside_delivery: applied while no delivery of its message to that agent was open
  (after the ack: a deferred or batched effect under another input's turn);
- effect_correlation_mismatch / effect_cause_mismatch: its correlation or causation id differs
  from those of the delivered message it names.

Deliveries of copies the harness made (``resubmit``) are deliveries like any other.
Black-box agents (``run_start.black_boxes``: agent -> input queue) whose broker link is tapped
(``run_start.tapped``) have ``deliver``/``ack``/``nack`` records from the tap, and an ``emit``
at the moment they published: their emits are judged as SDK publishes (the router's later
``publish`` of the same message is not judged again). Untapped black boxes have no delivery
records: a cause counts as delivered to one when it was published to its queue; whether it
published before its ack cannot be seen (counted as ``unobserved``, not judged). An effect a
black box applied (read through a probe, no message id) counts as delivered when its
correlation reached the agent's queue. One pass plus a linear walk of the cause chains (each
node visited once): O(n) in the history.
Options: ``require_open`` (default true) turns the two "outside the delivery" problems on.
Counts: published, effects, deliveries, and one per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checkers import stream
from harness.checkers.base import Examples, Verdict, limit_of

Event = dict[str, Any]

__all__ = ["PROBLEMS", "check"]

PROBLEMS = ("cause_not_delivered", "published_after_settle", "id_reused", "cycle",
            "effect_without_delivery", "effect_outside_delivery",
            "effect_correlation_mismatch", "effect_cause_mismatch")
_SETTLE = ("ack", "nack", "dead_letter")


class Judge(stream.Judge):
    """The causal graph is real, acyclic and consistent (module docstring)."""

    cost = 1.4
    ahead = False  # reads its Facts only in its verdict

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.ex = Examples(limit_of(opts))
        self.require_open = bool(opts.get("require_open", True))
        self.delivered: dict[tuple[Any, Any], tuple[Any, Any]] = {}  # (agent, mid) -> ids
        self.open_: dict[tuple[Any, Any], int] = {}
        self.node: dict[str, tuple[Any, Any, Any, Any]] = {}  # mid -> (cause, type, cid, who)
        self.n_pub = self.n_eff = self.n_del = 0
        self.black: dict[Any, Any] = {}
        self.tapped: set[Any] = set()
        self.routed: set[tuple[Any, Any]] = set()  # (queue, message id), (queue, correlation)
        self.pending: list[dict[str, Any]] = []

    def feed(self, events: list[Event]) -> None:
        ex, require_open = self.ex, self.require_open
        delivered, open_, node, black = self.delivered, self.open_, self.node, self.black
        tapped = self.tapped
        n_del = n_pub = n_eff = 0
        for e in events:
            kind = e.get("kind")
            if kind == "deliver":
                mid = e.get("message_id")
                if not mid:
                    continue
                n_del += 1
                key = (e.get("agent"), mid)
                if key not in delivered:
                    delivered[key] = (e.get("correlation_id"), e.get("causation_id"))
                    open_[key] = 1
                else:
                    open_[key] = open_.get(key, 0) + 1
            elif kind == "ack" or kind == "nack" or kind == "dead_letter":  # _SETTLE
                key = (e.get("agent"), e.get("message_id"))
                if open_.get(key):
                    open_[key] -= 1
            elif kind == "publish":
                producer = e.get("producer")
                if black and e.get("queue") in black.values():
                    self.routed.add((e["queue"], e.get("message_id")))
                    self.routed.add((e["queue"], "cid:" + str(e.get("correlation_id"))))
                if producer in tapped:
                    continue  # judged at its emit
                if producer in black:
                    self.pending.append(e)  # judged once every publish to the queues is known
                    continue
                mid = e.get("message_id")
                if producer in (None, "workload") or not mid:
                    continue
                n_pub += 1
                _publish(e, mid, producer, delivered, open_, node, ex, require_open)
            elif kind == "effect":
                if e.get("agent") in black:
                    self.pending.append(e)
                    continue
                n_eff += 1
                _effect(e, delivered, open_, ex, require_open)
            elif kind == "run_start":
                if isinstance(e.get("black_boxes"), dict):
                    black = self.black = dict(e["black_boxes"])
                    tapped = self.tapped = set(e.get("tapped") or ()) & set(black)
            elif kind == "emit":
                if e.get("agent") in tapped and e.get("message_id"):
                    n_pub += 1  # a tapped black box's publish, as it left the agent
                    _publish({**e, "producer": e["agent"]}, e["message_id"], e["agent"],
                             delivered, open_, node, ex, require_open)
        self.n_del += n_del
        self.n_pub += n_pub
        self.n_eff += n_eff

    def verdict(self, info: stream.Info) -> Verdict:
        ex, require_open, black = self.ex, self.require_open, self.black
        delivered, open_, node = self.delivered, self.open_, self.node
        for e in self.pending:  # black boxes: "delivered" = put on their queue (docstring)
            if e["kind"] == "publish" and e.get("message_id"):
                self.n_pub += 1
                who = e["producer"]
                key = (who, e.get("causation_id"))
                if (black[who], e.get("causation_id")) in self.routed:
                    delivered.setdefault(key, (e.get("correlation_id"), None))
                    open_.setdefault(key, 1)
                _publish(e, e["message_id"], who, delivered, open_, node, ex, require_open)
            elif e["kind"] == "effect":
                self.n_eff += 1
                if (black[e["agent"]], "cid:" + str(e.get("correlation_id"))) not in self.routed:
                    ex.add("effect_without_delivery", {
                        "agent": e["agent"], "effect": e.get("effect"),
                        "correlation_id": e.get("correlation_id"), "index": e.get("index")})
        _cycles(node, ex)
        counts: dict[str, Any] = {"published": self.n_pub, "effects": self.n_eff,
                                  "deliveries": self.n_del}
        if black:
            counts["unobserved"] = len(self.pending)
        counts.update({p: ex.n(p) for p in PROBLEMS})
        return Verdict(not ex, counts, ex.items)


check = stream.judged(Judge)


def _publish(e: dict[str, Any], mid: str, producer: Any,
             delivered: dict[tuple[Any, Any], tuple[Any, Any]],
             open_: dict[tuple[Any, Any], int],
             node: dict[str, tuple[Any, Any, Any, Any]], ex: Examples,
             require_open: bool) -> None:
    cause, cid = e.get("causation_id"), e.get("correlation_id")
    me = (cause, e.get("type"), cid, producer)
    before = node.setdefault(mid, me)
    if before is not me and before != me:
        ex.add("id_reused", {**_where(e, mid, producer, cid, cause),
                             "first": dict(zip(("causation_id", "type", "correlation_id",
                                                "producer"), before, strict=True))})
        return
    if not cause:
        return  # no cause at all: trace's missing_causation
    key = (producer, cause)
    if open_.get(key):
        return  # delivered and still open: the usual case (an open delivery was delivered)
    if key not in delivered:
        ex.add("cause_not_delivered", _where(e, mid, producer, cid, cause))
    elif require_open:
        ex.add("published_after_settle", _where(e, mid, producer, cid, cause))


def _where(e: dict[str, Any], mid: Any, producer: Any, cid: Any, cause: Any) -> dict[str, Any]:
    return {"message_id": mid, "type": e.get("type"), "producer": producer,
            "correlation_id": cid, "causation_id": cause, "index": e.get("index")}


def _effect(e: dict[str, Any], delivered: dict[tuple[Any, Any], tuple[Any, Any]],
            open_: dict[tuple[Any, Any], int], ex: Examples, require_open: bool) -> None:
    agent, mid = e.get("agent"), e.get("message_id")
    key = (agent, mid)
    seen = delivered.get(key)
    cid = e.get("correlation_id")
    if seen is not None and (not require_open or open_.get(key)) and cid == seen[0] and (
            "causation_id" not in e or e["causation_id"] == seen[1]):
        return  # inside an open delivery of its message, with its identities: the usual case
    where = {"agent": agent, "effect": e.get("effect"), "message_id": mid,
             "correlation_id": cid, "index": e.get("index")}
    if seen is None:
        ex.add("effect_without_delivery", where)
        return
    if require_open and not open_.get(key):
        ex.add("effect_outside_delivery", where)
    if e.get("correlation_id") != seen[0]:
        ex.add("effect_correlation_mismatch", {**where, "delivered_correlation_id": seen[0]})
    if "causation_id" in e and e.get("causation_id") != seen[1]:
        ex.add("effect_cause_mismatch", {**where, "causation_id": e.get("causation_id"),
                                         "delivered_causation_id": seen[1]})


def _cycles(node: dict[str, tuple[Any, Any, Any, Any]], ex: Examples) -> None:
    """Each message is on at most one cause chain walk: 0 unseen, 1 on the current walk,
    2 finished (known to end outside any cycle or already reported)."""
    state: dict[str, int] = {}
    for start in node:
        if state.get(start):
            continue
        path: list[str] = []
        mid: Any = start
        while mid in node and not state.get(mid):
            state[mid] = 1
            path.append(mid)
            mid = node[mid][0]
        if mid in node and state.get(mid) == 1:  # came back onto this walk: a cycle
            ring = path[path.index(mid):]
            ex.add("cycle", {"messages": ring[:6], "length": len(ring),
                             "types": [node[m][1] for m in ring[:6]]})
        for m in path:
            state[m] = 2
