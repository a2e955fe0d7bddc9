"""orjson where it writes exactly what the standard library wrote (the runtime's hot path).

orjson is about ten times faster than ``json.dumps`` but differs from it on some values: it
writes NaN and infinities as ``null``, floats in another notation (``1e-5`` for ``1e-05``),
enums and UUIDs by value, and non-ASCII as UTF-8. :func:`exact_json` tells when a value has
none of those, and :data:`EXACT` makes orjson refuse (``TypeError``) the subclasses,
dataclasses and dates the standard library writes otherwise; on refusal, callers fall back
to ``json``.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["EXACT", "ascii_dumps", "exact_json"]

#: orjson options under which it refuses (TypeError) subclasses of str/int/dict/list,
#: dataclasses and dates
EXACT = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
         | orjson.OPT_PASSTHROUGH_DATETIME)


def exact_json(value: Any, *, floats: bool) -> bool:
    """Whether ``value`` holds only exact str, int, bool, None, dict, list and tuple (and, with
    ``floats``, finite floats): values orjson writes as ``json.dumps`` does (floats only up to
    notation). Non-str keys, ints past 64 bits and lone surrogates make orjson raise."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if t is dict:
            stack.extend(v.values())
        elif t is list or t is tuple:
            stack.extend(v)
        elif t is float and floats:
            if v - v != 0:  # NaN and infinities: json writes NaN, orjson null
                return False
        else:  # an enum, a UUID, a set, an object: json decides (default=str, or refuses)
            return False
    return True


def ascii_dumps(value: Any, option: int = 0) -> bytes | None:
    """orjson's bytes for ``value`` when they are what ``json.dumps`` (ASCII-escaping, its
    default) writes: ASCII without DEL and nothing orjson refuses under :data:`EXACT`; else None
    (the caller falls back to ``json``). Call it on values :func:`exact_json` passed."""
    try:
        raw = orjson.dumps(value, option=EXACT | option)
    except TypeError:  # a non-str key, an int past 64 bits, a lone surrogate, deep nesting
        return None
    return raw if raw.isascii() and b"\x7f" not in raw else None  # json escapes the rest
