"""Checker ``history``: the history itself is whole and well formed.

A cut-off, unfinished or hand-edited history cannot prove anything, so problems here give
``unknown`` (never ``valid``); the composed verdict of such a history is therefore never valid.

Counts: events, kinds seen, problems. Examples: ``truncated``, ``unfinished``, ``index_gap``,
``bad_field``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tests.checkers.reference.base import UNKNOWN, Examples, Verdict, as_events, limit_of

__all__ = ["check"]

#: fields each kind must carry, with their type
REQUIRED: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "ingress": (("correlation_id", str),),
    "outcome": (("correlation_id", str), ("outcome", str)),
    "effect": (("key", str), ("applied", bool)),
    "publish": (("queue", str),),
    "intent": (("of", str),),
    "deliver": (("queue", str),),
    "ack": (("queue", str),),
    "dead_letter": (("queue", str),),
    "fault_start": (("fault", str),),
    "fault_end": (("fault", str),),
}


def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
    """Whole, ordered, well-typed history -> True; anything doubtful -> unknown."""
    events = as_events(history)
    ex = Examples(limit_of(opts))
    if getattr(history, "truncated", False):
        ex.add("truncated", {"detail": "last line cut short (dropped)"})
    if not events:
        ex.add("unfinished", {"detail": "empty history"})
    elif events[0].get("kind") != "run_start":
        ex.add("unfinished", {"detail": "does not start with run_start"})
    if events and not any(e.get("kind") == "run_end" for e in events[-50:]):
        ex.add("unfinished", {"detail": "no run_end: the run did not finish"})
    last_index: dict[Any, int] = {}
    last_time = float("-inf")
    for n, e in enumerate(events):
        idx = e.get("index")
        t = e.get("time")
        if (not isinstance(idx, int) or isinstance(idx, bool) or not isinstance(t, (int, float))
                or isinstance(t, bool) or not math.isfinite(t)):
            ex.add("bad_field", {"line": n + 1, "detail": "index/time missing or not a number"})
            continue
        proc = e.get("process")
        prev = last_index.get(proc)
        if prev is not None and idx != prev + 1:
            ex.add("index_gap", {"line": n + 1, "after": prev, "index": idx})
        last_index[proc] = idx
        if proc is None:
            if t < last_time - 1e-6:
                ex.add("time_backwards", {"line": n + 1, "index": idx})
            last_time = max(last_time, t)
        for name, typ in REQUIRED.get(e.get("kind", ""), ()):
            if not isinstance(e.get(name), typ):
                ex.add("bad_field", {"line": n + 1, "index": idx, "kind": e.get("kind"),
                                     "field": name, "value": repr(e.get(name))[:80]})
    counts: dict[str, Any] = {"events": len(events), **ex.counts}
    return Verdict(UNKNOWN if ex else True, counts, ex.items,
                   "history is incomplete or malformed" if ex else None)
