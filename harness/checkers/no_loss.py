"""Checker ``no_loss``: every accepted input reaches exactly one terminal outcome.

Jepsen's total-queue idea over correlations: an input is *accepted* when an ``ingress`` event
records it; its fate is the set of terminal outcomes its correlation reached: ``completed`` or
``declined`` (``outcome`` events) or ``dead_lettered`` (a ``dead_letter`` event with a reason).

- lost: no fate, and the history is complete with every dead letter attributed -> invalid;
- indeterminate: no fate, but the history is cut short or some dead letters carry no
  correlation id -> unknown (never passed);
- conflicting: more than one fate (e.g. completed and dead-lettered) -> invalid;
- unexpected: an outcome for a correlation that never entered -> invalid (a ``resubmit``
  fault's new correlation entered; its fate is not required: the run does not wait for it).

An outcome an agent process committed and then died (SIGKILL) before recording (its ``intent``
line is alone) is read back from the end-of-run store snapshot (crash_recovered); without a
snapshot, or if the process is not known to have died, that correlation is indeterminate.

Counts: attempted, completed, declined, dead_lettered, lost, indeterminate, conflicting,
unexpected, anonymous_dead_letters, crash_recovered.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of
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

__all__ = ["check"]


_FATES = frozenset({"outcome", "dead_letter"})


class Judge(stream.Judge):
    """Every accepted input reaches exactly one terminal outcome (module docstring)."""

    kinds = frozenset({"ingress", "outcome", "fault_start", "dead_letter"})
    cost = 0.4

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # inputs, fates and resubmissions are independent indexes: each group on its own
        self.feed(by_kind.get("ingress") or [])
        self.feed(stream.pick(events, by_kind, _FATES))
        self.feed(by_kind.get("fault_start") or [])

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.accepted = SpillDict()  # cid -> (expect, ingress index) of its first ingress
        self.fates: Fates = new_fates()
        self.anonymous = 0
        _, self.mids, self.bodies = facts.fault_targets()
        self.injected: dict[str, set[str]] = {}
        self.resubmitted: set[str] = set()  # correlations a resubmit fault started

    def feed(self, events: list[Event]) -> None:
        accepted, fates = self.accepted, self.fates
        for e in events:
            kind = e.get("kind")
            if kind == "ingress":
                cid = e.get("correlation_id")
                if cid:
                    accepted.put(sys.intern(cid) if type(cid) is str else cid,
                                 (e.get("expect"), e.get("index")))
            elif kind == "outcome":
                add_outcome(fates, e)
            elif kind == "fault_start" and e.get("copy_correlation_id"):
                self.resubmitted.add(e["copy_correlation_id"])
            elif kind == "dead_letter":
                cid = e.get("correlation_id")
                if not e.get("reason"):
                    continue  # a dead letter without a reason is not a terminal outcome
                if cid and dead_letter_injected(e, self.mids, self.bodies):
                    self.injected.setdefault(cid, set()).add("dead_lettered")
                elif cid:
                    add_fate(fates, cid, "dead_lettered")
                else:
                    self.anonymous += 1

    def verdict(self, info: stream.Info) -> Verdict:
        ex = Examples(limit_of(self.opts))
        accepted, fates, anonymous = self.accepted, self.fates, self.anonymous
        settle_fates(fates, self.injected)
        recovered, undecided = recovered_outcomes(info.tracker, Fated(fates))
        for cid, got in recovered.items():
            add_fate(fates, cid, got)
        whole, why = info.complete()
        counts = {"attempted": len(accepted), "completed": 0, "declined": 0,
                  "dead_lettered": 0, "lost": 0, "indeterminate": 0, "conflicting": 0,
                  "unexpected": 0, "anonymous_dead_letters": anonymous,
                  "crash_recovered": len(recovered)}
        for cid, (expect, index), fate in fates.lookup(accepted.items()):
            if not fate and cid in undecided:
                counts["indeterminate"] += 1
                ex.add("indeterminate", {"correlation_id": cid, "why": undecided[cid]})
                continue
            if not fate:
                if whole and not anonymous:
                    counts["lost"] += 1
                    ex.add("lost", {"correlation_id": cid, "expect": expect,
                                    "ingress_index": index})
                else:
                    counts["indeterminate"] += 1
                    ex.add("indeterminate", {"correlation_id": cid,
                                             "why": why or "unattributed dead letters exist"})
                continue
            if len(fate) > 1:
                counts["conflicting"] += 1
                ex.add("conflicting", {"correlation_id": cid, "fates": sorted(fate)})
                continue
            only = next(iter(fate))
            if only in counts:
                counts[only] += 1
        for cid, fate, first in accepted.lookup(fates.items()):
            if first is None and cid not in self.resubmitted:
                counts["unexpected"] += 1
                ex.add("unexpected", {"correlation_id": cid, "fates": sorted(fate)})
        if counts["lost"] or counts["conflicting"] or counts["unexpected"]:
            valid: Any = False
        elif counts["indeterminate"] or not whole:
            valid = UNKNOWN
        else:
            valid = True
        error = None if whole else why
        if error is None and valid is UNKNOWN:
            error = "an outcome was cut by a process that stopped before recording it (undecided)"
        return Verdict(valid, counts, ex.items, error)


check = stream.judged(Judge)
