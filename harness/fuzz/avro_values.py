"""Valid Avro datums from a schema (parsed JSON): a base datum, then one change at a time
(every enum symbol, every union branch, empty and longer arrays and maps), and seeded random
datums for fuzzing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

__all__ = ["candidates", "random_datum"]

_PRIMITIVE = {"null": None, "boolean": True, "int": 7, "long": 300, "float": 1.5,
              "double": 0.75, "bytes": b"\x01\xff", "string": "high"}


class _Names:
    """Named types seen so far (records, enums, fixed) by full and short name."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def learn(self, schema: dict[str, Any], namespace: str) -> str:
        name = schema.get("name", "")
        space = schema.get("namespace", namespace)
        full = name if "." in name or not space else f"{space}.{name}"
        self.types[full] = schema
        self.types.setdefault(name.rsplit(".", 1)[-1], schema)
        return full.rpartition(".")[0]

    def get(self, name: str, namespace: str) -> dict[str, Any] | None:
        return self.types.get(f"{namespace}.{name}" if namespace and "." not in name else name) \
            or self.types.get(name)


def _variants(schema: Any, names: _Names, namespace: str, depth: int) -> Iterator[Any]:
    """Values of ``schema``, the first one being the base value."""
    if isinstance(schema, str):
        if schema in _PRIMITIVE:
            yield _PRIMITIVE[schema]
            return
        named = names.get(schema, namespace)
        if named is None or depth > 4:
            return
        schema = named
    if isinstance(schema, list):
        for branch in schema:
            yield from _first(_variants(branch, names, namespace, depth + 1))
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if isinstance(kind, (list, dict)) or (isinstance(kind, str) and kind not in (
            "record", "error", "enum", "fixed", "array", "map")):
        yield from _variants(kind, names, namespace, depth)
        return
    if kind in ("record", "error"):
        space = names.learn(schema, namespace)
        fields = [f for f in schema.get("fields", []) if isinstance(f, dict)]
        per_field = [list(_limited(_variants(f.get("type"), names, space, depth + 1), 6))
                     for f in fields]
        if any(not values for values in per_field):
            return
        base = {f["name"]: values[0] for f, values in zip(fields, per_field, strict=True)}
        yield dict(base)
        for f, values in zip(fields, per_field, strict=True):
            for value in values[1:]:
                yield {**base, f["name"]: value}
    elif kind == "enum":
        names.learn(schema, namespace)
        yield from schema.get("symbols", [])
    elif kind == "fixed":
        names.learn(schema, namespace)
        yield b"\x01" * int(schema.get("size", 0))
    elif kind == "array":
        items = list(_limited(_variants(schema.get("items"), names, namespace, depth + 1), 4))
        if items:
            yield [items[0]]
            yield []
            yield items
    elif kind == "map":
        values = list(_limited(_variants(schema.get("values"), names, namespace, depth + 1), 4))
        if values:
            yield {"k": values[0]}
            yield {}
            yield {f"k{i}": v for i, v in enumerate(values)}


def _first(values: Iterator[Any]) -> Iterator[Any]:
    yield from _limited(values, 4)


def _limited(values: Iterator[Any], limit: int) -> Iterator[Any]:
    for count, value in enumerate(values):
        if count >= limit:
            return
        yield value


def candidates(schema: Any, *, limit: int = 200) -> Iterator[Any]:
    """Valid datums of ``schema``: the base datum first, then one change at a time."""
    yield from _limited(_variants(schema, _Names(), "", 0), limit)


def random_datum(schema: Any, rng: random.Random) -> Any:
    """A seeded random valid datum (uniform over each part's variants)."""
    return _random(schema, rng, _Names(), "", 0)


def _random(schema: Any, rng: random.Random, names: _Names, namespace: str, depth: int) -> Any:
    if isinstance(schema, str):
        if schema in _PRIMITIVE:
            return _random_primitive(schema, rng)
        named = names.get(schema, namespace)
        return _random(named, rng, names, namespace, depth + 1) if named else None
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"] if depth > 4 else schema
        return _random(rng.choice(branches or schema), rng, names, namespace, depth + 1)
    kind = schema.get("type")
    if kind in ("record", "error"):
        space = names.learn(schema, namespace)
        return {f["name"]: _random(f["type"], rng, names, space, depth + 1)
                for f in schema.get("fields", [])}
    if kind == "enum":
        names.learn(schema, namespace)
        return rng.choice(schema["symbols"])
    if kind == "fixed":
        names.learn(schema, namespace)
        return bytes(rng.randrange(256) for _ in range(int(schema["size"])))
    if kind == "array":
        count = 0 if depth > 4 else rng.randrange(4)
        return [_random(schema["items"], rng, names, namespace, depth + 1) for _ in range(count)]
    if kind == "map":
        count = 0 if depth > 4 else rng.randrange(4)
        return {f"k{i}": _random(schema["values"], rng, names, namespace, depth + 1)
                for i in range(count)}
    return _random(kind, rng, names, namespace, depth)


def _random_primitive(kind: str, rng: random.Random) -> Any:
    if kind == "int":
        return rng.randint(-2**31, 2**31 - 1)
    if kind == "long":
        return rng.randint(-2**63, 2**63 - 1)
    if kind in ("float", "double"):
        return rng.uniform(-1e6, 1e6)
    if kind == "string":
        return "".join(rng.choice("abcxyz019 é") for _ in range(rng.randrange(8)))
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    if kind == "boolean":
        return rng.random() < 0.5
    return None
