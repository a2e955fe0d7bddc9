"""Small shared readings of a history used by several checkers (pure, one pass each)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from harness.spill import SpillDict

__all__ = ["FATE_FAULTS", "TERMINAL_OUTCOMES", "CrashGaps", "GapTracker", "complete",
           "fault_targets", "new_fates", "percentile", "recovered_outcomes"]

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


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values (a list, or an array: no
    copy of it is kept); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


#: one frozenset per distinct set of fates, shared by every correlation that has it
_FATE_SETS: dict[frozenset[str], frozenset[str]] = {}
#: correlation -> its fates (a :class:`~harness.spill.SpillDict`: bounded memory)
Fates = SpillDict


def _shared(fates: frozenset[str]) -> frozenset[str]:
    return _FATE_SETS.setdefault(fates, fates)


def _union_fates(old: frozenset[str], new: frozenset[str]) -> frozenset[str]:
    return old if new <= old else _shared(old | new)


def new_fates() -> Fates:
    """An empty correlation -> fates index."""
    return SpillDict(_union_fates)


def add_fate(fates: Fates, cid: Any, fate: str) -> None:
    """Add ``fate`` to ``cid``'s fates (shared frozensets: a correlation costs a dict entry)."""
    fates.put(sys.intern(cid) if type(cid) is str else cid, _shared(frozenset((fate,))))


def add_outcome(fates: Fates, e: dict[str, Any]) -> None:
    """Add an ``outcome`` event's fate to its correlation's fates (none without an id)."""
    cid = e.get("correlation_id")
    if cid:
        add_fate(fates, cid, str(e.get("outcome")))


def dead_letter_injected(e: dict[str, Any], mids: set[str], bodies: set[str]) -> bool:
    """Whether a dead letter is of a message a fault made (a poisoned or drifted copy)."""
    return (bool(e.get("message_id")) and e.get("message_id") in mids) or (
        bool(e.get("body")) and e.get("body") in bodies)


def settle_fates(fates: Fates, injected: dict[str, set[str]]) -> None:
    """A dead letter of a fault-made copy is the correlation's fate only when nothing else is:
    if the real message still completed (a retry or duplicate got through), that wins."""
    for cid in injected:
        if not fates.get(cid):
            add_fate(fates, cid, "dead_lettered")


class CrashGaps:
    """``intent`` lines never followed by their ``effect``/``publish`` line in their process.

    An agent process writes an intent before committing an effect or publishing and the result
    line after, naming the intent's ``index`` (``intent``); a SIGKILL between the two leaves
    the intent alone. ``died`` holds those of a process the supervisor saw end (``agent_crash``
    or ``agent_stop`` with ``supervisor`` and the pid: the line will never come, and the
    end-of-run store snapshot, taken after every process ended, tells whether the effect was
    committed); ``open`` those of a process not known to have ended (the line may still come:
    what it did cannot be decided).

    Attributes:
        effects_died / effects_open: effect key -> its intent event.
        publishes_died / publishes_open: message id -> its intent event.
    """

    def __init__(self) -> None:
        self.effects_died: dict[str, dict[str, Any]] = {}
        self.effects_open: dict[str, dict[str, Any]] = {}
        self.publishes_died: dict[str, dict[str, Any]] = {}
        self.publishes_open: dict[str, dict[str, Any]] = {}


class GapTracker:
    """Reads crash gaps as a history streams by (harness.checkers.stream runs one per pass):
    ``intent`` lines not followed by their ``effect``/``publish`` line in their process, the
    processes the supervisor saw end, and, from the last snapshot (with its parts), what the
    store holds under the keys of outcome intents still open then (a snapshot is taken after
    every process ended, so no intent comes after it)."""

    def __init__(self) -> None:
        self.dead: set[str] = set()
        self.pending: dict[tuple[Any, Any], dict[str, Any]] = {}  # (process, index) -> intent
        self.stored: dict[str, str] | None = None  # outcome intent key -> stored effect name

    def take(self, e: dict[str, Any], kind: Any) -> None:
        if kind == "intent":
            self.pending[(e.get("process"), e.get("index"))] = e
        elif kind in ("effect", "publish"):
            if "intent" in e:  # names its intent's index
                self.pending.pop((e.get("process"), e["intent"]), None)
        elif kind in ("agent_crash", "agent_stop"):
            if e.get("supervisor") and e.get("pid") is not None:
                self.dead.add(f"{e.get('agent')}:{e.get('pid')}")
        elif kind == "snapshot":
            if not e.get("part"):
                self.stored = {}
            elif self.stored is None:
                return
            keys = {str(i.get("key")) for i in self.pending.values() if i.get("outcome")}
            for x in e.get("effects") or []:
                if isinstance(x, dict) and str(x.get("key")) in keys:
                    self.stored[str(x.get("key"))] = str(x.get("effect"))

    def gaps(self) -> CrashGaps:
        gaps = CrashGaps()
        for (process, _), e in self.pending.items():
            died = process in self.dead
            if e.get("of") == "effect" and e.get("key") is not None:
                (gaps.effects_died if died else gaps.effects_open)[str(e["key"])] = e
            elif e.get("of") == "publish" and e.get("message_id") is not None:
                (gaps.publishes_died if died else gaps.publishes_open)[str(e["message_id"])] = e
        return gaps


class Fated:
    """``cid in Fated(fates)``: the correlation has at least one fate (no copy of the ids)."""

    def __init__(self, fates: Fates) -> None:
        self.fates = fates

    def __contains__(self, cid: Any) -> bool:
        return bool(self.fates.get(cid))


def recovered_outcomes(tracker: GapTracker, fated: Any
                       ) -> tuple[dict[str, str], dict[str, str]]:
    """Terminal outcomes an agent committed but never recorded because its process died.

    For each correlation not in ``fated`` with an outcome intent cut by a death: its fate is the
    outcome the store holds under the intent's key (read from the end-of-run snapshot). Without
    a snapshot, or when the intent's process did not die, it cannot be decided.

    Returns:
        (correlation id -> recovered fate, correlation id -> why it is undecided).
    """
    gaps = tracker.gaps()
    stored = tracker.stored
    recovered: dict[str, str] = {}
    undecided: dict[str, str] = {}
    for key, e in (*gaps.effects_died.items(), *gaps.effects_open.items()):
        cid = e.get("correlation_id")
        if not e.get("outcome") or not cid or cid in fated:
            continue
        died = key in gaps.effects_died
        if stored is None:
            undecided[cid] = ("its outcome's process stopped between committing and recording "
                              "it and there is no store snapshot to read it back from")
        elif key in stored and died:
            recovered[cid] = stored[key].removeprefix("outcome:")
        elif key in stored:
            undecided[cid] = ("its outcome is in the store but was never recorded, and its "
                              f"process ({e.get('process')}) is not known to have died")
    return recovered, undecided
