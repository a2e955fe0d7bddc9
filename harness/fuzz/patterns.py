"""Fast strategies for the simple anchored ``pattern`` strings most contracts use.

``hypothesis.strategies.from_regex`` interprets the parsed regex on every draw, which made a
payload with two patterned ids (``^pay-[0-9a-z-]{1,64}$``, ``^[0-9]{4}$``) cost about 2.5 ms of
a fuzz example's 5 ms. A pattern that is only literals and character classes with bounded
repeats, anchored at both ends, is the same language as a tuple of ``st.text`` over each class's
alphabet, which Hypothesis draws as one choice each. Everything else (alternation, groups,
categories such as ``\\d`` that match any Unicode digit, negated classes, unbounded repeats,
flags) returns None and the caller keeps ``from_regex``. The stdlib's own regex parser reads the
pattern; every generated value is still re-validated by the registry's validator.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

__all__ = ["simple_pattern"]

try:  # the stdlib's regex parser (``sre_parse`` before 3.11)
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - older or other Pythons: always from_regex
    _p = _c = None  # type: ignore[assignment]

#: a class with more characters than this is left to from_regex
_MAX_ALPHABET = 4096


def _alphabet(node: Any) -> str | None:
    """The characters a LITERAL or a plain IN class (literals and ranges) matches."""
    op, arg = node
    if op is _c.LITERAL:
        return chr(arg)
    if op is not _c.IN:
        return None
    chars: list[str] = []
    for item_op, item in arg:
        if item_op is _c.LITERAL:
            chars.append(chr(item))
        elif item_op is _c.RANGE and item[1] - item[0] < _MAX_ALPHABET:
            chars.extend(chr(c) for c in range(item[0], item[1] + 1))
        else:  # NEGATE, CATEGORY (\d, \w: Unicode-wide), ...
            return None
    if not chars or len(chars) > _MAX_ALPHABET:
        return None
    return "".join(sorted(set(chars)))


def simple_pattern(pattern: str) -> st.SearchStrategy[str] | None:
    """A strategy for strings ``re.search(pattern, s)`` accepts, or None when the pattern is
    not a simple anchored sequence (then use ``from_regex``)."""
    if _p is None or not isinstance(pattern, str):
        return None
    try:
        tree = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    if tree.state.flags & ~re.UNICODE:  # (?i), (?m), (?s), (?x)...: different languages
        return None
    parsed = list(tree)
    if len(parsed) < 2 or parsed[0] != (_c.AT, _c.AT_BEGINNING) or parsed[-1] != (_c.AT, _c.AT_END):
        return None
    parts: list[st.SearchStrategy[str]] = []
    for op, arg in parsed[1:-1]:
        if op is _c.LITERAL:
            parts.append(st.just(chr(arg)))
            continue
        if op is _c.IN:
            low, high, body = 1, 1, [(op, arg)]
        elif op is _c.MAX_REPEAT:
            low, high, body = arg[0], arg[1], list(arg[2])
            if high is _c.MAXREPEAT or high > 10_000:
                return None
        else:
            return None
        if len(body) != 1:
            return None
        alphabet = _alphabet(body[0])
        if alphabet is None:
            return None
        parts.append(st.text(alphabet, min_size=low, max_size=high))
    return st.tuples(*parts).map("".join)
