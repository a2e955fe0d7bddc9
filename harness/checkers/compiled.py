"""Compiled (Rust) JSON Schema validators for the ``wire`` checker, cached per schema.

jsonschema-rs answers "is this payload valid?" many times faster than the pure-Python validator.
It is used only where both must agree: a registry JSON Schema without ``$ref`` (nothing is ever
fetched) and without ``format`` (the two libraries check different format sets). A payload it
finds invalid is still judged by the registry's own validator, which names the failing field;
every other schema keeps the registry's validator.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["compiled"]

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
