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

from collections.abc import Mapping
from typing import Any

from tests.checkers.reference.base import Examples, Verdict, as_events, limit_of
from tests.checkers.reference.facts import (
    crash_gaps,
    dead_letter_injected,
    fault_targets,
    recovered_outcomes,
    settle_fates,
)

__all__ = ["ANY_OF", "check"]

#: expectations that several fates meet
ANY_OF = {"accepted": frozenset({"completed", "declined"})}


def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
    events = as_events(history)
    ex = Examples(limit_of(opts))
    allow = {k: set(v) for k, v in (opts.get("allow") or {}).items()}
    expect: dict[str, str | None] = {}
    fates: dict[str, set[str]] = {}
    excused_cids, mids, bodies = fault_targets(events)
    injected: dict[str, set[str]] = {}
    for e in events:
        kind = e.get("kind")
        if kind == "ingress" and e.get("correlation_id"):
            expect.setdefault(e["correlation_id"], e.get("expect"))
        elif kind == "outcome" and e.get("correlation_id"):
            fates.setdefault(e["correlation_id"], set()).add(str(e.get("outcome")))
        elif kind == "dead_letter" and e.get("correlation_id") and e.get("reason"):
            target = injected if dead_letter_injected(e, mids, bodies) else fates
            target.setdefault(e["correlation_id"], set()).add("dead_lettered")
    settle_fates(fates, injected)
    recovered, _ = recovered_outcomes(events, crash_gaps(events),
                                      {c for c, f in fates.items() if f})
    for cid, got in recovered.items():  # committed, then its process died before recording
        fates.setdefault(cid, set()).add(got)
    counts = {"checked": 0, "matched": 0, "mismatched": 0, "excused": 0, "no_expectation": 0}
    for cid, want in expect.items():
        fate = fates.get(cid)
        if not fate or len(fate) != 1:
            continue
        if want is None:
            counts["no_expectation"] += 1
            continue
        got = next(iter(fate))
        counts["checked"] += 1
        if got == want or got in allow.get(want, ()) or got in ANY_OF.get(want, ()):
            counts["matched"] += 1
        elif cid in excused_cids:
            counts["excused"] += 1
        else:
            counts["mismatched"] += 1
            ex.add(f"expected_{want}_got_{got}", {"correlation_id": cid, "expected": want,
                                                  "got": got})
    return Verdict(counts["mismatched"] == 0, counts, ex.items)
