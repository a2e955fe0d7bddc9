"""Witnesses: a concrete payload the writer's schema accepts and the reader's schema rejects.

Candidates are built from the writer's schema graph: a minimal valid instance, then variations
that change one thing at a time (each optional property, boundary values of every limit, every
enum value, repeated items, extra properties named after the reader's properties, values of
other types). Each candidate is checked with a real validator (``jsonschema``) against both
schemas; the first one the writer accepts and the reader rejects is the witness.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.contracts.compat.loading import validator_for
from harness.contracts.compat.model import Node, SchemaGraph
from harness.contracts.compat.regex_sample import sample_matching

__all__ = ["Witness", "find_witness"]

_ANY_VALUES: tuple[Any, ...] = ("x", 0, 1.5, True, None, {}, [], -1, "")
_STRINGS = ("2020-01-01T00:00:00Z", "2020-01-01", "00000000-0000-0000-0000-000000000000",
            "user@example.com", "https://example.com", "A", "0", "abc")
_MAX_PER_NODE = 48
_MAX_CANDIDATES = 4000
_MAX_DEPTH = 6


@dataclass(frozen=True)
class Witness:
    """A payload that breaks a reader.

    Attributes:
        payload: the JSON value.
        writer: which schema accepts it ("old" or "new").
        reader: which schema rejects it.
        error: the reader's validation error.
        path: JSON pointer of the rejected place in the payload.
    """

    payload: Any
    writer: str
    reader: str
    error: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"payload": self.payload, "accepted_by": self.writer, "rejected_by": self.reader,
                "error": self.error, "path": self.path}


def find_witness(writer: SchemaGraph, reader: SchemaGraph, *, writer_name: str,
                 reader_name: str) -> Witness | None:
    """Search a payload valid for ``writer`` and invalid for ``reader`` (``None`` if none found)."""
    writer_check = validator_for(_with_base(writer), writer)
    reader_check = validator_for(_with_base(reader), reader)
    hints = _property_names(reader.root, reader, set(), 0) - _property_names(
        writer.root, writer, set(), 0)
    gen = _Generator(writer, sorted(hints))
    seen: set[str] = set()
    for candidate in itertools.islice(gen.values(writer.root, 0), _MAX_CANDIDATES):
        key = repr(candidate)
        if key in seen:
            continue
        seen.add(key)
        if not writer_check.is_valid(candidate):
            continue
        error = next(iter(reader_check.iter_errors(candidate)), None)
        if error is not None:
            path = "#" + "".join(f"/{p}" for p in error.absolute_path)
            return Witness(candidate, writer_name, reader_name, error.message[:300], path)
    return None


def _with_base(graph: SchemaGraph) -> Any:
    schema = graph.root.source
    if not isinstance(schema, dict):
        return schema
    key = "id" if graph.draft == 4 else "$id"
    if key in schema:
        return schema
    uri = next(iter(graph.resolver.documents()), None)
    return {**schema, key: uri} if uri else schema


def _property_names(node: Node, graph: SchemaGraph, seen: set[int], depth: int) -> set[str]:
    node = graph.target(node)
    if id(node) in seen or depth > _MAX_DEPTH:
        return set()
    seen.add(id(node))
    names: set[str] = set()
    if node.kind == "object":
        names.update(node.a["properties"])
        names.update(node.a["propertyDeps"])
        names.update(node.a["schemaDeps"])
        for child in node.a["properties"].values():
            names |= _property_names(child, graph, seen, depth + 1)
    elif node.kind == "combined":
        for child in node.a["subschemas"]:
            names |= _property_names(child, graph, seen, depth + 1)
    elif node.kind == "array" and node.a["allItems"] is not None:
        names |= _property_names(node.a["allItems"], graph, seen, depth + 1)
    return names


class _Generator:
    """Candidate values for nodes of one graph."""

    def __init__(self, graph: SchemaGraph, hints: list[str]) -> None:
        self.graph = graph
        self.hints = hints

    def values(self, node: Node | None, depth: int) -> Iterator[Any]:
        if node is None:
            yield from _ANY_VALUES
            return
        node = self.graph.target(node)
        if depth > _MAX_DEPTH:
            yield from _ANY_VALUES[:5]
            return
        yield from itertools.islice(self._values(node, depth), _MAX_PER_NODE)

    def first(self, node: Node | None, depth: int) -> Any:
        return next(iter(self.values(node, depth)), None)

    def _values(self, node: Node, depth: int) -> Iterator[Any]:
        kind = node.kind
        if kind in ("empty", "true", "not", "conditional"):
            yield from _ANY_VALUES
        elif kind == "boolean":
            yield from (True, False)
        elif kind == "null":
            yield None
        elif kind == "enum":
            yield from node.a["values"].values()
        elif kind == "const":
            yield node.a["value"]
        elif kind == "string":
            yield from _strings(node.a)
        elif kind == "number":
            yield from _numbers(node.a)
        elif kind == "combined":
            yield from self._combined(node, depth)
        elif kind == "object":
            yield from self._object(node, depth)
        elif kind == "array":
            yield from self._array(node, depth)
        if node.has_default:
            yield node.meta["default"]

    def _combined(self, node: Node, depth: int) -> Iterator[Any]:
        subs = node.a["subschemas"]
        if node.a["criterion"] != "allOf":
            streams = [self.values(s, depth + 1) for s in subs]
            yield from (v for v in itertools.chain.from_iterable(
                itertools.zip_longest(*streams, fillvalue=_SKIP)) if v is not _SKIP)
            return
        firsts = [self.first(s, depth + 1) for s in subs]
        if firsts and all(isinstance(v, dict) for v in firsts):
            merged: dict[str, Any] = {}
            for v in firsts:
                merged.update(v)
            yield merged
        for sub in subs:
            yield from self.values(sub, depth + 1)

    def _object(self, node: Node, depth: int) -> Iterator[Any]:
        a = node.a
        props: dict[str, Node] = a["properties"]
        base = {name: self.first(props[name], depth + 1) for name in props
                if name in a["required"]}
        yield dict(base)
        yield {name: self.first(schema, depth + 1) for name, schema in props.items()}
        for name in a["required"]:
            if name in base:
                yield {k: v for k, v in base.items() if k != name}
        for name, schema in props.items():
            for value in itertools.islice(self.values(schema, depth + 1), 12):
                yield {**base, name: value}
        extras = [*self.hints, "extra_field"]
        for pattern, _schema in a["patterns"]:
            extras.append(_pattern_name(pattern))
        for limit in (a["maxProperties"], a["minProperties"]):
            if limit is not None and limit < 64:
                filler = {f"p{i}": 0 for i in range(limit + 1)}
                yield {**filler, **base}
                yield dict(itertools.islice({**base, **filler}.items(), limit))
        for name in extras[:8]:
            if name in props:
                continue
            pool = (self.values(a["additional"], depth + 1) if a["additional"] is not None
                    else iter(_ANY_VALUES))
            for value in itertools.islice(pool, 9):
                yield {**base, name: value}

    def _array(self, node: Node, depth: int) -> Iterator[Any]:
        a = node.a
        tuple_items = a["tupleItems"] or []
        head = [self.first(item, depth + 1) for item in tuple_items]
        item_node = a["allItems"] if a["allItems"] is not None else a["additional"]
        fill = list(itertools.islice(self.values(item_node, depth + 1), 12))
        minimum = a["minItems"] or 0
        filler = fill[0] if fill else None
        base = head + [filler] * max(0, minimum - len(head))
        yield list(base)
        yield head[:minimum] if minimum < len(head) else []
        for value in fill:
            yield [*head, value]
            yield [*head, value, value]
        if a["maxItems"] is not None and fill:
            yield head + [fill[i % len(fill)] for i in range(a["maxItems"] - len(head))]
        for index, item in enumerate(tuple_items):
            for value in itertools.islice(self.values(item, depth + 1), 8):
                yield [*head[:index], value, *head[index + 1:]]
        for value in _ANY_VALUES[:5]:
            yield [*head, value]


_SKIP = object()


def _pattern_name(pattern: str) -> str:
    literal = "".join(ch for ch in pattern.lstrip("^") if ch.isalnum() or ch == "_")
    return (literal or "p") + "1"


def _strings(a: dict[str, Any]) -> Iterator[str]:
    low = a["minLength"] or 0
    high = a["maxLength"]
    pattern = a["pattern"]
    if pattern:
        for extra in (0, 1, 4, 16, 64):
            sample = sample_matching(pattern, extra=extra)
            if sample is not None:
                yield sample
                yield from _fit(sample, low, high)
    lengths = [max(low, 1), low, low + 1]
    if high is not None:
        lengths += [high, max(high - 1, 0)]
    for length in lengths:
        if length >= 0 and (high is None or length <= high):
            yield "a" * length
    yield from _STRINGS


def _fit(sample: str, low: int, high: int | None) -> Iterator[str]:
    """The sample padded or cut to the length limits (the validator decides if it fits)."""
    if len(sample) < low:
        yield sample + sample[-1:] * (low - len(sample)) if sample else "a" * low
    if high is not None and len(sample) > high:
        yield sample[:high]


def _numbers(a: dict[str, Any]) -> Iterator[float | int]:
    integer = a["integer"]
    step = 1 if integer else 0.5
    points: list[float] = [0, 1, -1, 10, 1000000]
    for key in ("minimum", "maximum"):
        if a[key] is not None:
            points += [a[key], a[key] + step, a[key] - step]
    if a["exclusiveMinimum"] is not None:
        points += [a["exclusiveMinimum"] + step, a["exclusiveMinimum"] + 0.001]
    if a["exclusiveMaximum"] is not None:
        points += [a["exclusiveMaximum"] - step, a["exclusiveMaximum"] - 0.001]
    multiple = a["multipleOf"]
    if multiple is not None:
        m = float(multiple)
        base = [p for p in points if p] or [1]
        points = [round(p / m) * m for p in base] + [m, 2 * m, 3 * m, 5 * m, 7 * m]
    if not integer:
        points += [0.5, 1.5]
    for p in points:
        if integer and float(p).is_integer():
            yield int(p)
        elif not integer:
            yield int(p) if isinstance(p, float) and p.is_integer() and p == int(p) else p
