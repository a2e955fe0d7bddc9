"""Request bodies decoded the way Toxiproxy's Go ``encoding/json`` decoder reads them.

- Only the first JSON value is read (trailing bytes are ignored); an empty body is ``EOF``.
- Object keys match field names case-insensitively; the last matching key wins; unknown keys
  are ignored; ``null`` leaves a field unchanged.
- Integer fields (int64) reject ``1.5``, ``100.0``, ``1e3`` and strings; float fields take any
  number; NaN and Infinity are not JSON.

Error texts follow Go's where practical (``json: cannot unmarshal string into Go struct field
LatencyToxic.latency of type int64``); syntax errors name the offending character.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["GoJSONError", "decode_first", "get_bool", "get_float", "get_int64", "get_string",
           "kind", "lookup"]

_INT64 = (-(2**63), 2**63 - 1)


class GoJSONError(ValueError):
    """A body Go's decoder would reject; ``str()`` is the text after "bad request body: "."""


class _Float(float):
    """A JSON number written with a fraction or exponent (so not an integer to Go)."""

    literal: str

    def __new__(cls, literal: str) -> _Float:
        obj = super().__new__(cls, literal)
        obj.literal = literal
        return obj


def _no_constant(name: str) -> Any:
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


#: Python's JSON error reasons in the words Go's scanner uses.
_GO_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes":
        "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Extra data": "after top-level value",
    "Invalid control character at": "in string literal",
}

_DECODER = json.JSONDecoder(parse_float=_Float, parse_constant=_no_constant)


def decode_first(body: bytes) -> Any:
    """The first JSON value in ``body``.

    Raises:
        GoJSONError: empty body (``EOF``), truncated value or a syntax error.
    """
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start >= len(text):
        raise GoJSONError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip(" \t\r\n")):
            raise GoJSONError("unexpected EOF") from None
        context = _GO_CONTEXT.get(exc.msg, f"({exc.msg.lower()})")
        raise GoJSONError(f"invalid character '{text[exc.pos]}' {context}") from None
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None
    return value


def kind(value: Any) -> str:
    """Go's name for a JSON value's kind in unmarshal errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def lookup(obj: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) for ``key`` matched case-insensitively, the last match winning."""
    found, value = False, None
    folded = key.lower()
    for name, item in obj.items():
        if name == key or name.lower() == folded:
            found, value = True, item
    return found, value


def _mismatch(value: Any, where: str, gotype: str) -> GoJSONError:
    shown = kind(value)
    if shown == "number" and gotype in ("int64", "float32"):
        shown = f"number {getattr(value, 'literal', value)}"
    return GoJSONError(
        f"json: cannot unmarshal {shown} into Go struct field {where} of type {gotype}")


def get_string(obj: dict[str, Any], key: str, where: str) -> str | None:
    """A string field, or None when absent or null."""
    found, value = lookup(obj, key)
    if not found or value is None:
        return None
    if not isinstance(value, str):
        raise _mismatch(value, where, "string")
    return value


def get_bool(obj: dict[str, Any], key: str, where: str) -> bool | None:
    """A bool field, or None when absent or null."""
    found, value = lookup(obj, key)
    if not found or value is None:
        return None
    if not isinstance(value, bool):
        raise _mismatch(value, where, "bool")
    return value


def get_int64(obj: dict[str, Any], key: str, where: str) -> int | None:
    """An int64 field (no fraction, no exponent), or None when absent or null."""
    found, value = lookup(obj, key)
    if not found or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or isinstance(value, _Float):
        raise _mismatch(value, where, "int64")
    if not _INT64[0] <= value <= _INT64[1]:
        raise _mismatch(value, where, "int64")
    return value


def get_float(obj: dict[str, Any], key: str, where: str) -> float | None:
    """A float32 field, or None when absent or null."""
    found, value = lookup(obj, key)
    if not found or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _mismatch(value, where, "float32")
    if abs(float(value)) > 3.4028234663852886e38:
        raise _mismatch(value, where, "float32")
    return float(value)
