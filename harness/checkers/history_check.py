"""Checker ``history``: the history itself is whole and well formed.

A cut-off, unfinished or hand-edited history cannot prove anything, so problems here give
``unknown`` (never ``valid``); the composed verdict of such a history is therefore never valid.

Counts: events, kinds seen, problems. Examples: ``truncated``, ``unfinished``, ``index_gap``,
``bad_field``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import repeat
from operator import contains, itemgetter
from typing import Any

from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of

Event = dict[str, Any]

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


_INDEX, _TIME = itemgetter("index"), itemgetter("time")


class Judge(stream.Judge):
    """Whole, ordered, well-typed history -> True; anything doubtful -> unknown."""

    cost = 0.6
    ahead = False  # reads its Facts only in its verdict

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.ex = Examples(limit_of(opts))
        self.last_index: dict[Any, int] = {}
        self.last_time = float("-inf")
        self.n = 0

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # the fields each kind requires, checked kind by kind first: when all are there (the
        # usual case) the line-by-line pass need not look at them again
        for kind, fields in REQUIRED.items():
            group = by_kind.get(kind)
            if group and not _typed(group, fields):
                self.feed(events)
                return
        if not self._in_order(events):
            self.feed(events, {})

    def _in_order(self, events: list[Event]) -> bool:
        """Take a chunk at once when it is in order: no ``process``, consecutive int
        indexes after the last one, finite float times never going back (what :meth:`feed`
        would pass without a word). False, with nothing taken, for anything else."""
        if not events or (any(map(contains, events, repeat("process")))
                          and [e.get("process") for e in events].count(None) != len(events)):
            return False
        try:
            idx: list[Any] = list(map(_INDEX, events))
            times: list[Any] = list(map(_TIME, events))
        except KeyError:
            return False
        first, prev = idx[0], self.last_index.get(None)
        if (set(map(type, idx)) != {int} or set(map(type, times)) != {float}
                or (prev is not None and first != prev + 1)
                or idx != list(range(first, first + len(idx)))
                or not math.isfinite(sum(times)) or times[0] < self.last_time
                or times != sorted(times)):
            return False
        self.last_index[None] = idx[-1]
        self.last_time = times[-1]
        self.n += len(events)
        return True

    def feed(self, events: list[Event],
             required: Mapping[str, tuple[tuple[str, Any], ...]] = REQUIRED) -> None:
        ex, last_index = self.ex, self.last_index
        last_time = self.last_time
        isfinite = math.isfinite
        for n, e in enumerate(events, start=self.n):
            idx = e.get("index")
            t = e.get("time")
            if (type(idx) is not int or type(t) is not float) and (
                    not isinstance(idx, int) or isinstance(idx, bool)
                    or not isinstance(t, (int, float)) or isinstance(t, bool)):
                ex.add("bad_field", {"line": n + 1,
                                     "detail": "index/time missing or not a number"})
                continue
            if not isfinite(t):
                ex.add("bad_field", {"line": n + 1,
                                     "detail": "index/time missing or not a number"})
                continue
            proc = e.get("process")
            prev = last_index.get(proc)
            if prev is not None and idx != prev + 1:
                ex.add("index_gap", {"line": n + 1, "after": prev, "index": idx})
            last_index[proc] = idx
            if proc is None:
                if t < last_time - 1e-6:
                    ex.add("time_backwards", {"line": n + 1, "index": idx})
                if t > last_time:
                    last_time = t
            if required:
                kind = e.get("kind", "")
                if kind in required:
                    for name, typ in required[kind]:
                        if not isinstance(e.get(name), typ):
                            ex.add("bad_field", {"line": n + 1, "index": idx, "kind": kind,
                                                 "field": name,
                                                 "value": repr(e.get(name))[:80]})
        self.last_time = last_time
        self.n += len(events)

    def verdict(self, info: stream.Info) -> Verdict:
        ex = Examples(self.ex.limit)
        if info.truncated:
            ex.add("truncated", {"detail": "last line cut short (dropped)"})
        if not info.count:
            ex.add("unfinished", {"detail": "empty history"})
        elif info.first_kind != "run_start":
            ex.add("unfinished", {"detail": "does not start with run_start"})
        if info.count and not info.ended:
            ex.add("unfinished", {"detail": "no run_end: the run did not finish"})
        for problem, items in self.ex.items.items():  # after the whole-file problems
            for item in items:
                ex.add(problem, item)
            ex.counts[problem] = self.ex.counts[problem]
        counts: dict[str, Any] = {"events": info.count, **ex.counts}
        return Verdict(UNKNOWN if ex else True, counts, ex.items,
                       "history is incomplete or malformed" if ex else None)


check = stream.judged(Judge)


def _typed(events: list[Event], fields: tuple[tuple[str, Any], ...]) -> bool:
    """Whether every event carries each of ``fields`` with its type."""
    try:
        return all(all(map(isinstance, map(itemgetter(name), events), repeat(typ)))
                   for name, typ in fields)
    except KeyError:  # a field missing
        return False
