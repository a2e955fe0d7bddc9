"""Verdicts and how they combine (Jepsen's model).

A checker is a pure function ``check(history, opts) -> Verdict``: no I/O, no clock, no
randomness. ``valid`` is ``True``, ``False`` or ``"unknown"``; ``counts`` says how many of what
it saw; ``examples`` holds up to ``opts["examples"]`` (default 5) concrete cases per problem.
Verdicts combine as false > unknown > true, and a checker that raises yields ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["UNKNOWN", "Check", "Examples", "Verdict", "as_events", "check_safe", "compose",
           "merge_valid", "overall"]

UNKNOWN = "unknown"
Valid = bool | str
Event = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What a checker decided.

    Attributes:
        valid: True, False or "unknown".
        counts: what it counted (name -> number).
        examples: problem name -> up to N examples (dicts naming correlation ids etc.).
        error: why the checker could not decide (for unknown verdicts), if any.
        checker: the checker's name (set by :func:`compose`).
    """

    valid: Valid
    counts: Mapping[str, Any] = field(default_factory=dict)
    examples: Mapping[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    checker: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"valid": self.valid, "counts": dict(self.counts),
                                "examples": {k: list(v) for k, v in self.examples.items()}}
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], checker: str = "") -> Verdict:
        return cls(data.get("valid", UNKNOWN), dict(data.get("counts") or {}),
                   dict(data.get("examples") or {}), data.get("error"), checker)

    @property
    def label(self) -> str:
        return {True: "valid", False: "invalid"}.get(self.valid, "unknown")  # type: ignore[arg-type]


Check = Callable[[Any, Mapping[str, Any]], Verdict]


class Examples:
    """Collects up to ``limit`` examples per problem while counting all of them."""

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.items: dict[str, list[Any]] = {}
        self.counts: dict[str, int] = {}

    def add(self, problem: str, example: Any) -> None:
        self.counts[problem] = self.counts.get(problem, 0) + 1
        bucket = self.items.setdefault(problem, [])
        if len(bucket) < self.limit:
            bucket.append(example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def n(self, problem: str) -> int:
        return self.counts.get(problem, 0)


def merge_valid(values: Iterable[Valid]) -> Valid:
    """false > unknown > true; no values -> True."""
    result: Valid = True
    for v in values:
        if v is False:
            return False
        if v is not True:
            result = UNKNOWN
    return result


def as_events(history: Any) -> list[Event]:
    """The event list of a History, a list of events, or anything iterable of events."""
    events = getattr(history, "events", history)
    return events if isinstance(events, list) else list(events)


def check_safe(name: str, fn: Check, history: Any, opts: Mapping[str, Any]) -> Verdict:
    """Run a checker; an exception becomes an unknown verdict naming it."""
    try:
        verdict = fn(history, opts)
    except Exception as exc:  # a checker that raises yields unknown
        return Verdict(UNKNOWN, {}, {}, f"{type(exc).__name__}: {exc}", name)
    if not isinstance(verdict, Verdict):
        return Verdict(UNKNOWN, {}, {}, f"checker returned {type(verdict).__name__}", name)
    return Verdict(verdict.valid, verdict.counts, verdict.examples, verdict.error, name)


def compose(checkers: Mapping[str, Check], history: Any,
            opts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Verdict]:
    """Run named checkers on one history; ``opts`` maps a checker name to its options."""
    opts = opts or {}
    return {name: check_safe(name, fn, history, opts.get(name) or {})
            for name, fn in checkers.items()}


def overall(verdicts: Mapping[str, Verdict]) -> Valid:
    """The combined verdict of several checkers."""
    return merge_valid(v.valid for v in verdicts.values())


def limit_of(opts: Mapping[str, Any]) -> int:
    return int(opts.get("examples", 5))
