"""Short strings that match a regular expression (for witnesses of ``pattern`` schemas).

Walks the pattern's parse tree (Python's ``re`` parser) and builds one matching string:
literals as written, the first character of a class, the minimum repeat count, the first
branch of an alternation. Patterns it cannot sample give ``None``; callers check candidates
with a real validator anyway.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

__all__ = ["sample_matching"]

_CATEGORY = {"CATEGORY_DIGIT": "0", "CATEGORY_NOT_DIGIT": "a", "CATEGORY_SPACE": " ",
             "CATEGORY_NOT_SPACE": "a", "CATEGORY_WORD": "a", "CATEGORY_NOT_WORD": "-"}
_MAX_REPEAT_FILL = 64


def sample_matching(pattern: str, *, extra: int = 0) -> str | None:
    """A string that ``re.search(pattern, s)`` accepts, or ``None``.

    Args:
        pattern: the regular expression.
        extra: repeat each open-ended quantifier this many more times than its minimum
            (gives a second, longer sample).
    """
    try:
        tree = _p.parse(pattern)
        text = _emit(list(tree), extra, {})
    except (re.error, RecursionError, ValueError, TypeError, KeyError, OverflowError):
        return None
    try:
        return text if re.search(pattern, text) else None
    except re.error:
        return None


def _emit(items: list[tuple[Any, Any]], extra: int, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(arg) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_in(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, body = arg
            count = low
            if extra and (high is _c.MAXREPEAT or high > low):
                count = min(low + extra, high if high is not _c.MAXREPEAT else low + extra)
            count = min(count, _MAX_REPEAT_FILL)
            out.append("".join(_emit(list(body), extra, groups) for _ in range(count)))
        elif name == "SUBPATTERN":
            group, _, _, body = arg
            text = _emit(list(body), extra, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif name == "BRANCH":
            out.append(_emit(list(arg[1][0]), extra, groups))
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        elif name == "ATOMIC_GROUP":
            out.append(_emit(list(arg), extra, groups))
        else:
            raise ValueError(name)
    return "".join(out)


def _in(items: list[tuple[Any, Any]]) -> str:
    negate = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif negate:
            continue
        elif name == "LITERAL":
            return chr(arg)
        elif name == "RANGE":
            return chr(arg[0])
        elif name == "CATEGORY":
            return _CATEGORY.get(str(arg), "a")
    if negate:
        excluded = {chr(a) for op, a in items if str(op) == "LITERAL"}
        return next(ch for ch in "a0Z_-. " if ch not in excluded)
    return "a"
