"""One streaming pass of every checker over a history, in bounded memory.

A built-in checker is a :class:`Judge`: it is fed the history in chunks of events, in order,
keeps only the index it needs (compact tuples, per correlation or per message), and gives its
verdict at the end from what the pass saw (:class:`Info`). :func:`judge_all` reads the history
once (a list, a :class:`~harness.history.History` or a file-backed
:class:`~harness.history.HistoryFile`) and feeds each chunk to every judge, so checking a
history costs one parse however many checkers run (two, on two processes, for a large file
that ``harness check`` reads: harness.checkers.forked), and never holds the whole history. Each
chunk is grouped by kind once (:func:`by_kind`), and each judge reads only the kinds it
declares (``Judge.kinds``), so a judge of outcomes never looks at a delivery. The garbage
collector is off during the pass (it creates no cycles; the collector would rescan the
judges' growing indexes again and again).

Some verdicts depend on events that come later in the file than the event being judged (a
fault that altered a message, the dead letters whose producers must be known). Those few kinds
(``fault_start``, ``fault_end``, ``dead_letter``) are read first in a quick look-ahead scan
(:class:`Facts`), then the main pass runs; if the main pass sees different rare events than the
scan found (a hand-written line the byte scan missed), it runs again with what it saw, so the
result never depends on how the file was spelled.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from harness.errors import HistoryError

__all__ = ["CHUNK", "FAULTS", "RARE", "Facts", "Info", "Judge", "by_kind", "chunks", "judge_all",
           "judged", "pick", "rare_kinds", "rows"]

Event = dict[str, Any]
#: events handed to the judges at a time
CHUNK = 128
#: kinds that tell crash gaps (harness.checkers.facts.GapTracker)
_GAP_KINDS = frozenset({"intent", "effect", "publish", "agent_crash", "agent_stop", "snapshot"})
_DEATH_KINDS = frozenset({"agent_crash", "agent_stop", "snapshot"})
#: kinds the look-ahead scan may collect (rare in a history, needed before the main pass)
RARE = frozenset({"fault_start", "fault_end", "dead_letter"})
#: the rare kinds a judge gets in its Facts unless it asks for more (``Judge.rare``)
FAULTS = frozenset({"fault_start", "fault_end"})


@dataclass
class Facts:
    """What a quick scan found before the main pass: the rare events, and the first five."""

    rare: list[Event] = field(default_factory=list)
    head: list[Event] = field(default_factory=list)
    _targets: tuple[set[str], set[str], set[str]] | None = None
    #: the rare kinds scanned for (the judges' ``rare``, joined)
    kinds: frozenset[str] = RARE

    @property
    def faults(self) -> list[Event]:
        return [e for e in self.rare if e.get("kind") != "dead_letter"]

    @property
    def dead_letters(self) -> list[Event]:
        if "dead_letter" not in self.kinds:
            raise RuntimeError("dead letters were not scanned for: the judge must ask for "
                               "them (Judge.rare)")
        return [e for e in self.rare if e.get("kind") == "dead_letter"]

    def fault_targets(self) -> tuple[set[str], set[str], set[str]]:
        """(correlation ids, message ids, bodies) whose fate a fault changed (facts.py)."""
        if self._targets is None:
            from harness.checkers.facts import fault_targets

            self._targets = fault_targets(self.rare)
        return self._targets

    def run_start(self) -> Event:
        """The ``run_start`` among the first five events, or {}."""
        return next((e for e in self.head if e.get("kind") == "run_start"), {})


@dataclass
class Info:
    """What the pass learned about the history as a whole (known at the end)."""

    count: int = 0
    truncated: bool = False
    #: crash gaps (intents without their result line), read in the same pass
    tracker: Any = None
    first_kind: Any = None
    last_run_end: int = -1  #: position of the last run_end event, -1 if none

    @property
    def ended(self) -> bool:
        """Whether a ``run_end`` is among the last 50 events."""
        return self.last_run_end >= 0 and self.last_run_end >= self.count - 50

    def complete(self) -> tuple[bool, str]:
        """Whether the history ran to its end: (complete?, why not)."""
        if self.truncated:
            return False, "the history's last line is cut short"
        if not self.count or self.first_kind != "run_start":
            return False, "the history does not start with run_start"
        if not self.ended:
            return False, "the history has no run_end (the run did not finish)"
        return True, ""


class Judge:
    """A checker fed a history in chunks. Subclasses set ``__init__(opts, facts)``,
    :meth:`feed` and :meth:`verdict`, and ``kinds``: the event kinds :meth:`feed` reads (None:
    it reads every event). A judge with ``kinds`` is fed only the events of those kinds, in
    file order; one whose groups of kinds are independent of each other (no verdict depends on
    how events of two groups interleave) may override :meth:`feed_chunk` to read each group
    on its own (:func:`pick`)."""

    kinds: frozenset[str] | None = None
    #: the rare kinds its Facts must hold (a long run's dead letters are many: only the
    #: judges that read them ask for them)
    rare: frozenset[str] = FAULTS
    #: whether it reads its Facts before its verdict (in ``__init__`` or while fed); if no
    #: judge does, the look-ahead scan is skipped and the Facts are what the pass saw
    ahead: bool = True
    #: its CPU per event relative to the others' (measured; splits the judges between two
    #: processes evenly, harness.checkers.forked)
    cost: float = 1.0

    def __init__(self, opts: Mapping[str, Any], facts: Facts) -> None:
        self.opts = opts
        self.facts = facts

    def feed(self, events: list[Event]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        """Feed one chunk: ``events`` in file order, ``by_kind`` the same events by kind."""
        kinds = self.kinds
        self.feed(events if kinds is None else pick(events, by_kind, kinds))

    def verdict(self, info: Info) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


JudgeType = Callable[[Mapping[str, Any], Facts], Judge]


def by_kind(events: list[Event]) -> dict[Any, list[Event]]:
    """The events grouped by kind, each group in file order."""
    groups: dict[Any, list[Event]] = {}
    get = groups.get
    try:  # events read from a file all have a kind
        for e in events:
            kind = e["kind"]
            group = get(kind)
            if group is None:
                groups[kind] = [e]
            else:
                group.append(e)
    except (KeyError, TypeError):  # not an event (or no kind): start again, slowly
        groups = {}
        for e in events:
            groups.setdefault(e.get("kind"), []).append(e)
    return groups


def pick(events: list[Event], groups: Mapping[Any, list[Event]],
         kinds: frozenset[str]) -> list[Event]:
    """The events of ``kinds``, in file order (``groups``: the same events by kind)."""
    present = [k for k in groups if k in kinds]
    if not present:
        return []
    if len(present) == 1:
        return groups[present[0]]
    if len(present) == len(groups):
        return events
    return [e for e in events if e.get("kind") in kinds]


def rows(events: list[Event], getter: Callable[[Event], Any]) -> list[Any] | None:
    """``getter`` (an ``itemgetter`` of fields) of every event, read at once; None when an
    event lacks one of the fields (the caller then reads the events one at a time)."""
    try:
        return list(map(getter, events))
    except (KeyError, TypeError):
        return None


def chunks(history: Any, size: int | None = None) -> Iterator[list[Event]]:
    """The history's events in lists of at most ``size`` (default :data:`CHUNK`), in order
    (a file-backed history streams from disk)."""
    size = size or CHUNK
    reader = getattr(history, "chunks", None)
    if reader is not None:
        yield from reader(size)
        return
    events = getattr(history, "events", history)
    if isinstance(events, list):
        for i in range(0, len(events), size):
            yield events[i : i + size]
        return
    it = iter(events)
    while batch := list(islice(it, size)):
        yield batch


def _scan(history: Any, kinds: frozenset[str]) -> Facts:
    scan = getattr(history, "scan", None)
    if scan is not None:  # a file: a byte-level look-ahead (HistoryFile.scan)
        rare, head = scan(kinds)
        return Facts(rare, head, kinds=kinds)
    facts = Facts(kinds=kinds)
    for chunk in chunks(history):
        if len(facts.head) < 5:
            facts.head.extend(chunk[: 5 - len(facts.head)])
        facts.rare.extend(e for e in chunk if e.get("kind") in kinds)
    return facts


def rare_kinds(judges: Mapping[str, JudgeType]) -> frozenset[str]:
    """The rare kinds the look-ahead scans for: what the judges ask for (``Judge.rare``)."""
    return frozenset().union(*(getattr(cls, "rare", RARE) for cls in judges.values()))


def judge_all(
    judges: Mapping[str, JudgeType],
    history: Any,
    opts: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, tuple[Any, BaseException | None]]:
    """Run every judge over one read of ``history``: name -> (verdict, None) or (None, the
    exception the judge raised). A history that cannot be read raises HistoryError. A large
    history file is read twice at once, by two processes that each run half of the judges
    (harness.checkers.forked); the verdicts are the same."""
    from harness.checkers.forked import judge_split
    from harness.spill import default_bound

    default_bound()  # a bad HARNESS_SPILL_KEYS is one error here, not one per judge
    opts = opts or {}
    collecting = gc.isenabled()
    gc.disable()  # the pass builds no cycles; the collector would rescan the growing index
    try:
        kinds = rare_kinds(judges)

        def judge(group: Mapping[str, JudgeType], history: Any,
                  opts: Mapping[str, Mapping[str, Any]]
                  ) -> dict[str, tuple[Any, BaseException | None]]:
            # the look-ahead only for judges that read their Facts before the pass ends
            ahead = any(getattr(cls, "ahead", True) for cls in group.values())
            return _judge_all(group, history, opts, kinds,
                              _scan(history, kinds) if ahead else None)

        return judge_split(judges, history, opts, judge)  # a large file: on two processes
    finally:
        if collecting:
            gc.enable()


def _judge_all(judges: Mapping[str, JudgeType], history: Any,
               opts: Mapping[str, Mapping[str, Any]], kinds: frozenset[str],
               scanned: Facts | None) -> dict[str, tuple[Any, BaseException | None]]:
    """The judges over one pass; ``scanned``: the look-ahead's Facts, or None when no judge
    reads them before its verdict (then they are what the pass itself saw)."""
    facts = Facts(kinds=kinds) if scanned is None else scanned
    while True:
        made: dict[str, Judge | BaseException] = {}
        for name, cls in judges.items():
            try:
                made[name] = cls(opts.get(name) or {}, facts)
            except Exception as exc:
                made[name] = exc
        info, seen, head = _pass(made, history, kinds)
        if scanned is None:  # the judges hold this Facts: filled before their verdicts
            facts.rare[:], facts.head[:] = seen, head
            break
        if _same_rare(seen, facts.rare):
            break
        facts = Facts(seen, facts.head, kinds=kinds)  # the scan missed one: judge again
    out: dict[str, tuple[Any, BaseException | None]] = {}
    for name, j in made.items():
        if isinstance(j, BaseException):
            out[name] = (None, j)
            continue
        try:
            out[name] = (j.verdict(info), None)
        except Exception as exc:
            out[name] = (None, exc)
    return out


def _pass(made: dict[str, Judge | BaseException], history: Any,
          rare: frozenset[str]) -> tuple[Info, list[Event], list[Event]]:
    """(what the pass learned, the events of the ``rare`` kinds, the first five events)."""
    from harness.checkers.facts import GapTracker

    info = Info(tracker=GapTracker())
    tracker = info.tracker
    seen: list[Event] = []
    head: list[Event] = []
    live = {n: j for n, j in made.items() if isinstance(j, Judge)}
    for chunk in chunks(history):
        if not chunk:
            continue
        if len(head) < 5:
            head.extend(chunk[: 5 - len(head)])
        if not info.count:
            info.first_kind = chunk[0].get("kind")
        groups = by_kind(chunk)
        if "run_end" in groups:
            info.last_run_end = info.count + max(
                i for i, e in enumerate(chunk) if e.get("kind") == "run_end")
        if not rare.isdisjoint(groups):
            seen.extend(pick(chunk, groups, rare))
        # effect and publish lines only close intents: without any open, they change nothing
        gap_kinds = _GAP_KINDS if tracker.pending or "intent" in groups else _DEATH_KINDS
        if not gap_kinds.isdisjoint(groups):
            take = tracker.take
            for e in pick(chunk, groups, gap_kinds):
                take(e, e.get("kind"))
        info.count += len(chunk)
        for name, j in list(live.items()):
            try:
                j.feed_chunk(chunk, groups)
            except HistoryError:
                raise
            except Exception as exc:  # this judge gives up; the others go on
                made[name] = exc
                del live[name]
    info.truncated = bool(getattr(history, "truncated", False))
    return info, seen, head


def _same_rare(a: list[Event], b: list[Event]) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


def judged(cls: JudgeType) -> Callable[[Any, Mapping[str, Any]], Any]:
    """``check(history, opts)`` for a judge class (the checker's public function)."""

    def check(history: Any, opts: Mapping[str, Any]) -> Any:
        verdict, error = judge_all({"_": cls}, history, {"_": opts})["_"]
        if error is not None:
            raise error
        return verdict

    check.judge = cls  # type: ignore[attr-defined]
    check.__doc__ = cls.__doc__
    return check
