"""Compiled (Rust) JSON Schema validators, cached per schema: the registry's fast path (every
hop's ingress and egress validation) and the ``wire`` checker's.

jsonschema-rs answers "is this payload valid?" many times faster than the pure-Python validator.
It is used only where both must agree: a registry JSON Schema without ``$ref`` (nothing is ever
fetched) and without ``format`` (the two libraries check different format sets), on a payload
made only of JSON types (jsonschema-rs reads a tuple as an array, jsonschema does not). A
payload it finds invalid is still judged by the registry's own validator, which names the
failing field; every other schema keeps the registry's validator.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["compiled", "fast_valid", "plain_json"]

_SCALARS = (str, int, float, bool, type(None))


def plain_json(value: Any, limit: int = 10_000) -> bool:
    """True when ``value`` is made of dicts with str keys, lists and JSON scalars only (at most
    ``limit`` nodes; a bigger value is left to the Python validator)."""
    stack = [value]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return False
        kind = type(node)
        if kind is dict:
            for key, item in node.items():
                if type(key) is not str:
                    return False
                if type(item) in _SCALARS:
                    continue
                stack.append(item)
        elif kind is list:
            stack.extend(node)
        elif kind not in _SCALARS:
            return False
    return True


def fast_valid(registry: Any, message_type: str, version: Any, payload: Any) -> bool:
    """True when the compiled validator finds ``payload`` valid (False: not known to be valid,
    ask the registry's own validator)."""
    validator = compiled(registry, message_type, version)
    if validator is None or not plain_json(payload):
        return False
    try:
        return bool(validator.is_valid(payload))
    except (ValueError, OverflowError):  # a value it cannot read: the Python validator decides
        return False


def compiled(registry: Any, message_type: str, version: Any) -> Any | None:
    """A jsonschema-rs validator for (type, version) of ``registry``, or None to use its own
    (cached on the registry object, so it lives exactly as long as the schemas it compiled)."""
    cache = getattr(registry, "_compiled_validators", None)
    if cache is None:
        cache = {}
        try:
            registry._compiled_validators = cache
        except AttributeError:  # a registry-like object without a __dict__: no cache
            pass
    key = (message_type, version)
    if key not in cache:
        cache[key] = _build(registry, message_type, version)
    return cache[key]


def _build(registry: Any, message_type: str, version: Any) -> Any | None:
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a dependency; the Python validator still works
        return None
    get = getattr(registry, "get", None)
    if get is None:
        return None
    try:
        sv = get(message_type, version)
    except Exception:
        return None
    if getattr(sv, "format", "json") != "json" or not isinstance(sv.schema, dict):
        return None
    text = json.dumps(sv.schema)
    if '"$ref"' in text or '"format"' in text or '"$dynamicRef"' in text:
        return None
    draft = str(sv.schema.get("$schema", ""))
    cls = (jsonschema_rs.Draft202012Validator if "2020-12" in draft else
           jsonschema_rs.Draft201909Validator if "2019-09" in draft else
           jsonschema_rs.Draft6Validator if "draft-06" in draft else
           jsonschema_rs.Draft4Validator if "draft-04" in draft else
           jsonschema_rs.Draft7Validator)
    try:
        return cls(sv.schema, validate_formats=False)
    except Exception:  # a schema it cannot compile: the registry's validator decides
        return None
