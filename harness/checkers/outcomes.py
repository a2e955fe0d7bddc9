"""Checker ``outcomes``: every input ends the way the workload expected.

The workload marks each input with the fate a correct pipeline gives it (``expect`` on the
``ingress`` event: a valid payment completes, a high-risk one is declined, an invalid one is
dead-lettered). This is the canonical incident's checker: a high-risk payment that completed.
Correlations whose message a fault replaced or lost (poison, drift, drop) are excused, and
correlations with no single fate are left to ``no_loss``.

An input expected ``accepted`` (a valid input drawn from its schema: the workload cannot know
the business decision) matches ``completed`` or ``declined``.

Options: ``allow``: {expected: [other fates accepted]}.

Counts: checked, matched, mismatched, excused, no_expectation.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from harness.checkers import stream
from harness.checkers.base import Examples, Verdict, limit_of
from harness.checkers.facts import (
    Fated,
    Fates,
    add_fate,
    add_outcome,
    dead_letter_injected,
    new_fates,
    recovered_outcomes,
    settle_fates,
)
from harness.spill import SpillDict

Event = dict[str, Any]

__all__ = ["ANY_OF", "check"]

#: expectations that several fates meet
ANY_OF = {"accepted": frozenset({"completed", "declined"})}


_FATES = frozenset({"outcome", "dead_letter"})


class Judge(stream.Judge):
    """Every input ends the way the workload expected (module docstring)."""

    kinds = frozenset({"ingress", "outcome", "dead_letter"})
    cost = 0.3

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # expectations and fates are independent indexes: each group on its own
        self.feed(by_kind.get("ingress") or [])
        self.feed(stream.pick(events, by_kind, _FATES))

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.expect = SpillDict()  # cid -> the expectation of its first ingress
        self.fates: Fates = new_fates()
        self.excused_cids, self.mids, self.bodies = facts.fault_targets()
        self.injected: dict[str, set[str]] = {}

    def feed(self, events: list[Event]) -> None:
        expect, fates = self.expect, self.fates
        for e in events:
            kind = e.get("kind")
            if kind == "ingress":
                cid = e.get("correlation_id")
                if cid:
                    expect.put(sys.intern(cid) if type(cid) is str else cid, e.get("expect"))
            elif kind == "outcome":
                add_outcome(fates, e)
            elif kind == "dead_letter" and e.get("correlation_id") and e.get("reason"):
                if dead_letter_injected(e, self.mids, self.bodies):
                    self.injected.setdefault(e["correlation_id"], set()).add("dead_lettered")
                else:
                    add_fate(fates, e["correlation_id"], "dead_lettered")

    def verdict(self, info: stream.Info) -> Verdict:
        ex = Examples(limit_of(self.opts))
        allow = {k: set(v) for k, v in (self.opts.get("allow") or {}).items()}
        fates = self.fates
        settle_fates(fates, self.injected)
        recovered, _ = recovered_outcomes(info.tracker, Fated(fates))
        for cid, got in recovered.items():  # committed, then its process died before recording
            add_fate(fates, cid, got)
        counts = {"checked": 0, "matched": 0, "mismatched": 0, "excused": 0,
                  "no_expectation": 0}
        for cid, want, fate in fates.lookup(self.expect.items()):
            if not fate or len(fate) != 1:
                continue
            if want is None:
                counts["no_expectation"] += 1
                continue
            got = next(iter(fate))
            counts["checked"] += 1
            if got == want or got in allow.get(want, ()) or got in ANY_OF.get(want, ()):
                counts["matched"] += 1
            elif cid in self.excused_cids:
                counts["excused"] += 1
            else:
                counts["mismatched"] += 1
                ex.add(f"expected_{want}_got_{got}", {"correlation_id": cid, "expected": want,
                                                      "got": got})
        return Verdict(counts["mismatched"] == 0, counts, ex.items)


check = stream.judged(Judge)
