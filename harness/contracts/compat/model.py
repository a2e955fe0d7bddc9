"""A schema model shaped like the one Confluent's diff walks (the everit schema classes).

A JSON Schema becomes a graph of :class:`Node`: one ``kind`` per everit class (``string``,
``number``, ``object``, ``array``, ``enum``, ``const``, ``combined``, ``not``, ``boolean``,
``null``, ``conditional``, ``empty`` for ``{}``, ``true``, ``false``, ``ref``). Like everit, a
schema with keywords of several kinds (``{"type": "string", "enum": [...]}``) becomes a
synthetic ``allOf`` of one node per kind, and a type list becomes a synthetic ``anyOf``.
Nodes are built once per JSON object, and ``$ref`` targets lazily, so recursive schemas give
finite cyclic graphs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.contracts.compat.javaorder import hashmap_order
from harness.contracts.compat.resolve import RefResolver, draft_of, pointer_join
from harness.errors import SchemaError

__all__ = ["MISSING", "Node", "SchemaGraph", "canonical"]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

_ARRAY_KW = ("items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
             "prefixItems", "unevaluatedItems", "minContains", "maxContains")
_OBJECT_KW = ("properties", "required", "minProperties", "maxProperties", "dependencies",
              "patternProperties", "additionalProperties", "propertyNames",
              "dependentRequired", "dependentSchemas", "unevaluatedProperties")
_NUMBER_KW = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_KW = ("minLength", "maxLength", "pattern", "format")
_TYPE_KW = {"string": _STRING_KW, "number": _NUMBER_KW, "integer": _NUMBER_KW,
            "object": _OBJECT_KW, "array": _ARRAY_KW, "boolean": (), "null": ()}
_COMBINERS = tuple(hashmap_order(["allOf", "anyOf", "oneOf"]))
_SNIFFED = (("array", frozenset(_ARRAY_KW)), ("object", frozenset(_OBJECT_KW)),
            ("number", frozenset(_NUMBER_KW)), ("string", frozenset(_STRING_KW)))


def canonical(value: Any) -> str:
    """A canonical JSON text (sorted keys) used for value equality (keeps 1 and true apart)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(eq=False)
class Node:
    """One schema in the graph (compared by identity).

    Attributes:
        kind: the everit-like class name (see module docstring).
        a: kind-specific attributes (``maxLength``, ``properties``, ``subschemas``...).
        meta: ``id``, ``title``, ``description`` and ``default`` (``MISSING`` when absent).
        source: the JSON this node was built from (its own keywords only when synthetic).
        pointer: where the node sits in its document (for messages).
    """

    kind: str
    a: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    source: Any = None
    pointer: str = "#"
    _key: str | None = None
    _plain: bool | None = None

    @property
    def has_default(self) -> bool:
        return self.meta.get("default", MISSING) is not MISSING

    @property
    def plain(self) -> bool:
        """True when the node's JSON has no ``$ref``: equal text then means equal schemas."""
        if self._plain is None:
            self._plain = '"$ref"' not in self.key
        return self._plain

    @property
    def key(self) -> str:
        """Structural identity used to collapse duplicate ``oneOf``/``allOf`` branches."""
        if self._key is None:
            self._key = f"{self.kind}:{canonical(self.source)}"
        return self._key


class SchemaGraph:
    """Builds and caches the nodes of one schema document.

    Args:
        schema: the JSON Schema (a dict or a boolean).
        resolver: the resolver holding this document and any it refers to.
        uri: the document's URI (its base for relative ``$ref``).
        where: the name to use in error messages (usually the file name).
    """

    def __init__(self, schema: Any, resolver: RefResolver, uri: str, where: str) -> None:
        self.resolver = resolver
        self.where = where
        self.draft = draft_of(schema)
        self._nodes: dict[tuple[int, str], Node] = {}
        self._keep: list[Any] = []
        self.root = self.node(schema, uri, "#")

    def node(self, value: Any, base: str, pointer: str) -> Node:
        """The node of a JSON (sub)schema, built once per object and base URI."""
        cache_key = (id(value), base)
        found = self._nodes.get(cache_key)
        if found is not None:
            return found
        self._keep.append(value)
        if value is True:
            node = Node("true", source=True, pointer=pointer)
        elif value is False:
            node = Node("false", source=False, pointer=pointer)
        elif isinstance(value, dict):
            node = Node("pending", pointer=pointer)
            self._nodes[cache_key] = node
            self._fill(node, value, base, pointer)
            return node
        else:
            shown = canonical(value)[:60]
            raise SchemaError(f"expected a schema (object or boolean), found {shown}",
                              where=f"{self.where}: {pointer}")
        self._nodes[cache_key] = node
        return node

    def _fill(self, node: Node, value: dict[str, Any], base: str, pointer: str) -> None:
        base = self.resolver.base_of(value, base, self.draft)
        node.source = value
        ref = value.get("$ref")
        if isinstance(ref, str) and (self.draft < 2019 or not _has_siblings(value)):
            node.kind = "ref"
            node.a = {"ref": ref, "base": base, "target": None}
            return
        parts: list[Node] = []
        used: set[str] = set()
        if isinstance(ref, str):
            used.add("$ref")
            parts.append(self._part("ref", {"ref": ref, "base": base, "target": None},
                                    {"$ref": ref}, pointer))
        if "enum" in value and isinstance(value["enum"], list):
            values: dict[str, Any] = {canonical(v): v for v in value["enum"]}
            parts.append(self._part("enum", {"values": values}, {"enum": value["enum"]}, pointer))
        for keyword in _COMBINERS:
            subs = value.get(keyword)
            if isinstance(subs, list):
                nodes = [self.node(s, base, pointer_join(pointer, keyword, i))
                         for i, s in enumerate(subs)]
                parts.append(self._part("combined", {"criterion": keyword, "subschemas": nodes},
                                        {keyword: subs}, pointer))
        if "not" in value:
            parts.append(self._part("not", {"schema": self.node(value["not"], base,
                                                                pointer_join(pointer, "not"))},
                                    {"not": value["not"]}, pointer))
        if "const" in value and self.draft != 4:
            parts.append(self._part("const", {"value": value["const"]},
                                    {"const": value["const"]}, pointer))
        declared = value.get("type")
        if isinstance(declared, str) and declared in _TYPE_KW:
            parts.append(self._typed(declared, value, base, pointer))
            used.update(_TYPE_KW[declared])
        elif isinstance(declared, list) and declared:
            subs = [self._typed(t, value, base, pointer) for t in declared
                    if isinstance(t, str) and t in _TYPE_KW]
            for t in declared:
                used.update(_TYPE_KW.get(t, ()) if isinstance(t, str) else ())
            parts.append(self._part("combined", {"criterion": "anyOf", "subschemas": subs},
                                    {"type": declared}, pointer))
        if self.draft >= 2019 and value.get("properties") == {}:
            used.add("properties")  # json-sKema drops an empty "properties"
        present = value.keys() - used
        for kind, keywords in _SNIFFED:
            if not present.isdisjoint(keywords):
                parts.append(self._typed(kind, value, base, pointer, sniffed=True))
        if self.draft >= 7 and any(k in value for k in ("if", "then", "else")):
            parts.append(self._part("conditional", {}, {k: value[k] for k in ("if", "then", "else")
                                                        if k in value}, pointer))
        if not parts:
            node.kind = "empty"
        elif len(parts) == 1:
            node.kind, node.a = parts[0].kind, parts[0].a
        else:
            node.kind = "combined"
            node.a = {"criterion": "allOf", "subschemas": parts, "synthetic": True}
        id_key = {4: "id", 2019: "", 2020: ""}.get(self.draft, "$id")  # json-sKema drops $id
        node.meta = {"id": value.get(id_key, MISSING), "title": value.get("title", MISSING),
                     "description": value.get("description", MISSING),
                     "default": value.get("default", MISSING)}

    @staticmethod
    def _part(kind: str, attrs: dict[str, Any], source: Any, pointer: str) -> Node:
        return Node(kind, attrs, {}, source, pointer)

    def _typed(self, kind: str, value: dict[str, Any], base: str, pointer: str,
               *, sniffed: bool = False) -> Node:
        keywords = _TYPE_KW[kind]
        source = {k: value[k] for k in keywords if k in value}
        if not sniffed:
            source["type"] = kind
        if kind in ("number", "integer"):
            return self._part("number", _number_attrs(value, kind == "integer", self.draft),
                              source, pointer)
        if kind == "string":
            return self._part("string", {k: value.get(k) for k in ("maxLength", "minLength",
                                                                     "pattern")}, source, pointer)
        if kind == "object":
            return self._part("object", self._object_attrs(value, base, pointer), source, pointer)
        if kind == "array":
            return self._part("array", self._array_attrs(value, base, pointer), source, pointer)
        return self._part(kind, {}, source, pointer)

    def _child(self, value: Any, base: str, pointer: str, *parts: object) -> Node | None:
        if value is None:
            return None
        return self.node(value, base, pointer_join(pointer, *parts))

    def _object_attrs(self, value: dict[str, Any], base: str, pointer: str) -> dict[str, Any]:
        props: dict[str, Any] = (value["properties"] if isinstance(value.get("properties"), dict)
                                 else {})
        order = hashmap_order(props)
        properties = {name: self.node(props[name], base, pointer_join(pointer, "properties", name))
                      for name in order}
        additional = value.get("additionalProperties", True)
        prop_deps: dict[str, frozenset[str]] = {}
        schema_deps: dict[str, Node] = {}
        deps = dict(value.get("dependencies") or {})
        for name, dep in deps.items():
            if isinstance(dep, list):
                prop_deps[name] = frozenset(dep)
            else:
                schema_deps[name] = self.node(dep, base,
                                              pointer_join(pointer, "dependencies", name))
        for name, dep in (value.get("dependentRequired") or {}).items():
            prop_deps[name] = frozenset(dep)
        for name, dep in (value.get("dependentSchemas") or {}).items():
            schema_deps[name] = self.node(dep, base,
                                          pointer_join(pointer, "dependentSchemas", name))
        patterns = value.get("patternProperties") or {}
        required = value.get("required")
        return {
            "properties": properties,
            "required": frozenset(required) if isinstance(required, list) else frozenset(),
            "maxProperties": value.get("maxProperties"),
            "minProperties": value.get("minProperties"),
            "permitsAdditional": additional is not False,
            "additional": None if isinstance(additional, bool)
            else self._child(additional, base, pointer, "additionalProperties"),
            "patterns": [(p, self.node(s, base, pointer_join(pointer, "patternProperties", p)))
                         for p, s in patterns.items()],
            "propertyDeps": prop_deps,
            "schemaDeps": schema_deps,
            "unevaluated": self._child(value.get("unevaluatedProperties"), base, pointer,
                                       "unevaluatedProperties"),
        }

    def _array_attrs(self, value: dict[str, Any], base: str, pointer: str) -> dict[str, Any]:
        items = value.get("items")
        tuple_items: list[Any] | None = None
        additional: Any = value.get("additionalItems", True)
        all_items: Any = None
        if isinstance(value.get("prefixItems"), list) or (
                self.draft >= 2020 and isinstance(items, bool)):
            tuple_items, additional = value.get("prefixItems") or [], value.get("items", True)
            key = "prefixItems"
        elif isinstance(items, list):
            tuple_items, key = items, "items"
        else:
            all_items, key = items, "items"
        contains = "contains" in value
        return {
            "allItems": self._child(all_items, base, pointer, "items"),
            "tupleItems": None if tuple_items is None else [
                self.node(s, base, pointer_join(pointer, key, i))
                for i, s in enumerate(tuple_items)],
            "permitsAdditional": additional is not False,
            "additional": None if isinstance(additional, bool)
            else self._child(additional, base, pointer, "additionalItems"),
            "maxItems": value.get("maxItems"),
            "minItems": value.get("minItems"),
            "uniqueItems": value.get("uniqueItems") is True,
            "maxContains": value.get("maxContains"),
            "minContains": value.get("minContains", 1 if contains else None),
            "unevaluated": self._child(value.get("unevaluatedItems"), base, pointer,
                                       "unevaluatedItems"),
        }

    def target(self, node: Node) -> Node:
        """Follow ``$ref`` nodes to the schema they refer to (resolving them once)."""
        seen = 0
        while node.kind == "ref":
            attrs = node.a
            if attrs["target"] is None:
                where = f"{self.where}: {pointer_join(node.pointer, '$ref')}"
                value, base = self.resolver.resolve(attrs["ref"], attrs["base"], where=where)
                attrs["target"] = self.node(value, base, "#" + attrs["ref"].partition("#")[2])
            node = attrs["target"]
            seen += 1
            if seen > 100:
                raise SchemaError("$ref loops on itself", where=f"{self.where}: {node.pointer}")
        return node


def _has_siblings(value: dict[str, Any]) -> bool:
    ignored = {"$ref", "$schema", "$id", "id", "$defs", "definitions", "$comment", "title",
               "description", "$anchor", "$dynamicAnchor", "default", "examples"}
    return any(k not in ignored for k in value)


def _number_attrs(value: dict[str, Any], integer: bool, draft: int) -> dict[str, Any]:
    maximum, minimum = value.get("maximum"), value.get("minimum")
    exc_max, exc_min = value.get("exclusiveMaximum"), value.get("exclusiveMinimum")
    # Draft 4: a boolean flag makes "maximum" exclusive; model it as an added exclusive limit,
    # so false -> true is a tightening and true -> false a loosening.
    if isinstance(exc_max, bool):
        exc_max = maximum if exc_max else None
    if isinstance(exc_min, bool):
        exc_min = minimum if exc_min else None
    multiple = value.get("multipleOf")
    try:
        multiple_dec = None if multiple is None else Decimal(str(multiple))
    except InvalidOperation:
        multiple_dec = None
    return {"maximum": maximum, "minimum": minimum, "exclusiveMaximum": exc_max,
            "exclusiveMinimum": exc_min, "multipleOf": multiple_dec, "integer": integer}
