"""Judging a large history file on two processors: the judges in two groups, one in a child.

Each judge is independent of the others (its own index, its own verdict), so the judges can be
split between two processes that each stream the file once, as Jepsen's ``compose`` checker
runs its checkers in parallel. :func:`judge_split` forks a child that judges one group while
this process judges the other, and takes the child's verdicts back through a pipe (pickled).
Each process parses the whole file, so the CPU spent grows by one parse; the wall time falls to
one parse plus the larger group's share.

It is used only where it is safe and worth it: a history file checked on its own
(``harness check``, inside :func:`harness.spill.checking`; a run's summary stays on one
process, since a soak's memory matters more than its speed) of at least :data:`SPLIT_BYTES`,
at least two judges, two processors, ``os.fork``, and no other thread in this process (a fork
copies only the calling thread; a lock another thread held would stay held in the child).
``HARNESS_CHECK_PROCESSES=1`` turns it off. If the child fails in any way (killed, out of
memory, a verdict that cannot be pickled), this process judges the child's group itself, so
the verdicts are always those of one serial pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from harness import forking
from harness.spill import in_check

__all__ = ["SPLIT_BYTES", "halves", "judge_split"]

#: a history file smaller than this is judged in one process (a fork costs milliseconds)
SPLIT_BYTES = 32 << 20
ENV = "HARNESS_CHECK_PROCESSES"
#: the look-ahead scan's cost in the judges' ``cost`` units (about 0.6 s per 1,000,000 events)
SCAN_COST = 0.6

Judged = dict[str, tuple[Any, BaseException | None]]
JudgeAll = Callable[[Mapping[str, Any], Any, Mapping[str, Mapping[str, Any]]], Judged]


def _worth_it(judges: Mapping[str, Any], history: Any) -> bool:
    if not in_check():  # a run's own summary: a soak's memory matters more than its speed
        return False
    path = getattr(history, "path", None)
    if path is None or getattr(history, "scan", None) is None or len(judges) < 2:
        return False
    if not forking.allowed(ENV):
        return False
    try:
        return os.stat(path).st_size >= SPLIT_BYTES
    except OSError:
        return False  # the serial pass names the problem


def halves(judges: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The judges in two groups of about equal cost (each judge's ``cost``, 1.0 if none): the
    judges that read the look-ahead scan's Facts before their verdicts (``ahead``) in the
    first, which pays for the scan (:data:`SCAN_COST`), so the second skips it; then the
    others, the costliest first, each to the lighter group."""
    groups: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    load = [0.0, 0.0]
    for name, cls in judges.items():
        if getattr(cls, "ahead", True):
            groups[0][name] = cls
            load[0] += float(getattr(cls, "cost", 1.0))
    if groups[0]:
        load[0] += SCAN_COST
    rest = [(n, c) for n, c in judges.items() if n not in groups[0]]
    for name, cls in sorted(rest, key=lambda item: -float(getattr(item[1], "cost", 1.0))):
        side = 0 if load[0] <= load[1] else 1
        groups[side][name] = cls
        load[side] += float(getattr(cls, "cost", 1.0))
    return groups


def judge_split(judges: Mapping[str, Any], history: Any,
                opts: Mapping[str, Mapping[str, Any]], judge_all: JudgeAll) -> Judged:
    """``judge_all(judges, history, opts)``, on two processes where that is safe and worth
    it (module docstring); the verdicts are the same either way, in ``judges``' order."""
    if not _worth_it(judges, history):
        return judge_all(judges, history, opts)
    mine, theirs = halves(judges)
    done, got = forking.both(lambda: judge_all(mine, history, opts),
                             lambda: judge_all(theirs, history, opts),
                             lambda got: isinstance(got, dict) and set(got) == set(theirs))
    done.update(got)
    return {name: done[name] for name in judges}
