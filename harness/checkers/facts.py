"""Small shared readings of a history used by several checkers (pure, one pass each)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["FATE_FAULTS", "TERMINAL_OUTCOMES", "complete", "fault_targets", "percentile"]

#: message faults that legitimately change a correlation's fate (its message is replaced or lost)
FATE_FAULTS = frozenset({"poison", "drift", "drop"})
TERMINAL_OUTCOMES = ("completed", "declined")


def complete(history: Any, events: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether the history ran to its end: (complete?, why not)."""
    if getattr(history, "truncated", False):
        return False, "the history's last line is cut short"
    if not events or events[0].get("kind") != "run_start":
        return False, "the history does not start with run_start"
    if not any(e.get("kind") == "run_end" for e in events[-50:]):
        return False, "the history has no run_end (the run did not finish)"
    return True, ""


def fault_targets(events: list[dict[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    """Correlations and message ids whose fate a fault changed, and the bytes faults injected.

    Only faults in :data:`FATE_FAULTS` that apply to one message count; a ``drop`` with
    ``mode: confirm`` (a lost publisher confirm, the producer retries) changes no fate.
    """
    cids: set[str] = set()
    mids: set[str] = set()
    bodies: set[str] = set()
    for e in events:
        if e.get("kind") != "fault_start" or e.get("fault") not in FATE_FAULTS:
            continue
        if e.get("fault") == "drop" and e.get("mode", "confirm") == "confirm":
            continue
        if e.get("correlation_id"):
            cids.add(e["correlation_id"])
        if e.get("message_id"):
            mids.add(e["message_id"])
        if e.get("body"):
            bodies.add(e["body"])
    return cids, mids, bodies


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def dead_letter_injected(e: dict[str, Any], mids: set[str], bodies: set[str]) -> bool:
    """Whether a dead letter is of a message a fault made (a poisoned or drifted copy)."""
    return (bool(e.get("message_id")) and e.get("message_id") in mids) or (
        bool(e.get("body")) and e.get("body") in bodies)


def settle_fates(fates: dict[str, set[str]], injected: dict[str, set[str]]) -> None:
    """A dead letter of a fault-made copy is the correlation's fate only when nothing else is:
    if the real message still completed (a retry or duplicate got through), that wins."""
    for cid in injected:
        own = fates.setdefault(cid, set())
        if not own:
            own.add("dead_lettered")
