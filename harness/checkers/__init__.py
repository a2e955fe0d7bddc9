"""Checkers: pure functions over a history, each returning a :class:`Verdict`.

``CHECKERS`` maps each name to its ``check(history, opts)``; :func:`run_checkers` composes them
(false > unknown > true; a checker that raises yields unknown). The ``history`` checker always
runs, so a cut-off or hand-edited history is never judged valid; so does ``exercised``, so a run
whose planned faults never fired is vacuous (unknown), never valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.checkers import (
    causal,
    dead_letters,
    exactly_once,
    exercised,
    history_check,
    latency,
    no_loss,
    outcomes,
    trace,
    wire,
)
from harness.checkers.base import Check, Verdict, compose, merge_valid, overall
from harness.checkers.user import user_check

__all__ = ["CHECKERS", "DEFAULT", "Verdict", "compose", "merge_valid", "overall", "run_checkers"]

CHECKERS: dict[str, Check] = {
    "history": history_check.check,
    "no_loss": no_loss.check,
    "outcomes": outcomes.check,
    "exactly_once": exactly_once.check,
    "trace": trace.check,
    "causal": causal.check,
    "wire": wire.check,
    "dead_letters": dead_letters.check,
    "latency": latency.check,
    "exercised": exercised.check,
}
DEFAULT = tuple(CHECKERS)


def run_checkers(history: Any, names: Iterable[str] | None = None,
                 opts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Verdict]:
    """Run the named checkers (default: all) plus ``history`` and ``exercised``. A name that
    is no built-in checker is a user invariant when its options hold a ``rule`` or a
    ``function`` (harness.checkers.user); else KeyError."""
    wanted = list(names or DEFAULT)
    if "history" not in wanted:
        wanted.insert(0, "history")
    if "exercised" not in wanted:  # a planned fault that never fired makes the run vacuous
        wanted.append("exercised")
    opts = opts or {}
    chosen: dict[str, Check] = {}
    for name in wanted:
        fn = CHECKERS.get(name) or user_check(name, opts.get(name) or {})
        if fn is None:
            raise KeyError(name)
        chosen[name] = fn
    return compose(chosen, history, opts)
