"""JSON Schema's ``pattern`` with ECMA-262 anchors, as the specification asks.

Python's ``re`` lets ``$`` match before a final newline, so python-jsonschema accepts
``"00000000\\n"`` for ``^[A-Z0-9]{8}$``; ECMA-262 (and jsonschema-rs, ajv, every JavaScript or Go
validator an agent may use) does not. The harness judges with the specification's meaning, so
a payload it calls valid is valid for an agent in any language: an unescaped ``$`` outside a
character class becomes ``\\Z`` (the very end of the string).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

from jsonschema import ValidationError, validators

__all__ = ["ecma_pattern", "ecma_validator_class"]


def ecma_pattern(pattern: str) -> str:
    """``pattern`` with every end anchor ``$`` meaning the end of the string only."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # "[]...]": a leading "]" is a literal
                out.append("[]")
                i += 2
                continue
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def ecma_validator_class(cls: Any) -> Any:
    """``cls`` (a jsonschema validator class) with the ECMA-262 ``pattern`` keyword."""
    return validators.extend(cls, {"pattern": _pattern})
