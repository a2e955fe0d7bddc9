"""Loading schemas for comparison: validity checks, ``$ref`` checks, graph building."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urldefrag, urljoin

from jsonschema import validators
from jsonschema.exceptions import best_match

from harness.contracts.compat.model import SchemaGraph
from harness.contracts.compat.resolve import RefResolver, iter_refs
from harness.errors import SchemaError

__all__ = ["check_schema", "load_graph", "validator_for"]


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_SCHEMA_VALUES = ("additionalProperties", "additionalItems", "contains", "not", "if", "then",
                  "else", "propertyNames", "unevaluatedProperties", "unevaluatedItems")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_checked: dict[tuple[str, str], str | None] = {}
_META: dict[type, Any] = {}


#: longest list a schema may hold: the meta-schema's uniqueItems checks are quadratic
MAX_SCHEMA_LIST = 10_000


def _long_list(schema: Any) -> tuple[str, int] | None:
    """(pointer, length) of the first list over MAX_SCHEMA_LIST items, walked without recursion."""
    stack: list[tuple[str, Any]] = [("#", schema)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, list):
            if len(node) > MAX_SCHEMA_LIST:
                return pointer, len(node)
            stack.extend((f"{pointer}/{i}", v) for i, v in enumerate(node)
                         if isinstance(v, dict | list))
        elif isinstance(node, dict):
            stack.extend((f"{pointer}/{k}", v) for k, v in node.items()
                         if isinstance(v, dict | list))
    return None


def schema_class(schema: Any, where: str) -> Any:
    """The jsonschema validator class a schema's ``$schema`` names (draft 7 when absent).

    Raises:
        SchemaError: naming ``where`` and the place, for a ``$schema`` that is not a string or
            a list of more than MAX_SCHEMA_LIST items (refused before the meta-schema check,
            whose uniqueItems rules would take minutes on it).
    """
    if isinstance(schema, dict) and "$schema" in schema and not isinstance(schema["$schema"], str):
        raise SchemaError(f"$schema must be a string URI, found {type(schema['$schema']).__name__}",
                          where=f"{where}: #/$schema")
    found = _long_list(schema)
    if found is not None:
        raise SchemaError(f"a list of {found[1]:,} items (at most {MAX_SCHEMA_LIST:,})",
                          where=f"{where}: {found[0]}")
    return validators.validator_for(schema, default=validators.Draft7Validator)


def check_schema(schema: Any, where: str) -> None:
    """Raise SchemaError (naming ``where`` and the place) unless ``schema`` is a JSON Schema."""
    if not isinstance(schema, dict | bool):
        raise SchemaError(f"not a schema: expected an object or boolean, found "
                          f"{type(schema).__name__}", where=f"{where}: #")
    cls = schema_class(schema, where)
    error = _check(schema, cls, "#")
    if error is not None:
        raise SchemaError(error, where=where)


def _check(schema: Any, cls: Any, pointer: str) -> str | None:
    """Validate one (sub)schema against the meta-schema, each distinct subschema once.

    Subschemas are checked on their own (cached by text) and left out of (or replaced by
    ``{}`` in) their parent, which the meta-schema then checks only for its own keywords.
    """
    if not isinstance(schema, dict):
        return None
    key = (cls.__name__, json.dumps(schema, sort_keys=True))
    if key in _checked:
        cached = _checked[key]
        return None if cached is None else f"{pointer}{cached}"
    shallow = dict(schema)
    children: list[tuple[str, Any]] = []
    for name in _SCHEMA_MAPS:
        if isinstance(schema.get(name), dict):
            shallow[name] = {k: v for k, v in schema[name].items() if not isinstance(v, dict)}
            children += [(f"/{name}/{_escape(k)}", v) for k, v in schema[name].items()]
    for name in _SCHEMA_VALUES:
        if isinstance(schema.get(name), dict):
            shallow[name] = {}
            children.append((f"/{name}", schema[name]))
    for name in (*_SCHEMA_LISTS, "items"):
        value = schema.get(name)
        if isinstance(value, list):
            shallow[name] = [{} if isinstance(v, dict) else v for v in value]
            children += [(f"/{name}/{i}", v) for i, v in enumerate(value)]
        elif name == "items" and isinstance(value, dict):
            shallow[name] = {}
            children.append(("/items", value))
    if isinstance(schema.get("dependencies"), dict):
        shallow["dependencies"] = {k: v for k, v in schema["dependencies"].items()
                                   if not isinstance(v, dict)}
        children += [(f"/dependencies/{_escape(k)}", v)
                     for k, v in schema["dependencies"].items() if isinstance(v, dict)]
    relative: str | None = None
    meta = _META.get(cls)
    if meta is None:
        meta = _META[cls] = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    if not meta.is_valid(shallow):
        # the best of the first 100 errors: 10,000 bad properties must not cost seconds
        exc = best_match(itertools.islice(meta.iter_errors(shallow), 100))
        place = "".join(f"/{_escape(str(p))}" for p in exc.absolute_path)
        relative = f"{place}: not a valid JSON Schema: {exc.message[:200]}"
    if relative is None:
        for suffix, child in children:
            found = _check(child, cls, suffix)
            if found is not None:
                relative = found
                break
    if len(_checked) > 100_000:
        _checked.clear()
    _checked[key] = relative
    return None if relative is None else f"{pointer}{relative}"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def load_graph(schema: Any, *, uri: str, where: str,
               fetch: Callable[[str], Any] | None = None) -> SchemaGraph:
    """Check a schema, resolve every ``$ref`` in it, and build its graph.

    Args:
        schema: the schema (already parsed JSON).
        uri: its URI (a ``file://`` URI for files, so relative ``$ref`` can be followed).
        where: the name used in errors.
        fetch: reads other documents by URI; ``None`` allows local references only.

    Raises:
        SchemaError: not a schema, or a ``$ref`` that cannot be resolved.
    """
    check_schema(schema, where)
    text = json.dumps(schema)
    resolver = RefResolver(fetch)
    resolver.add_document(uri, schema, text=text)
    graph = SchemaGraph(schema, resolver, uri, where)
    if '"$ref"' in text:
        _check_refs(schema, uri, where, resolver)
    return graph


def _check_refs(schema: Any, uri: str, where: str, resolver: RefResolver) -> None:
    """Resolve every ``$ref`` of the document (and of documents it pulls in) once."""
    pending = [(schema, uri, where)]
    done: set[str] = set()
    while pending:
        document, doc_uri, doc_where = pending.pop()
        if doc_uri in done:
            continue
        done.add(doc_uri)
        for ref, pointer in iter_refs(document):
            base = _base_at(resolver, document, pointer, doc_uri)
            place = f"{doc_where}: {pointer}"
            resolver.resolve(ref, base, where=place)
            target_doc = ref.partition("#")[0]
            if target_doc:
                url = urldefrag(urljoin(base, ref))[0]
                pending.append((resolver.resolve(url, url, where=place)[0], url, url))


def _base_at(resolver: RefResolver, document: Any, pointer: str, uri: str) -> str:
    """The base URI in force at ``pointer`` (following ``$id`` on the way down)."""
    node, base = document, uri
    tokens = pointer.split("/")[1:-1]
    for token in tokens:
        if isinstance(node, dict):
            base = resolver.base_of(node, base, 7)
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node.get(token)
    if isinstance(node, dict):
        base = resolver.base_of(node, base, 7)
    return base


def validator_for(schema: Any, graph: SchemaGraph) -> Any:
    """A jsonschema validator for ``schema`` that resolves references like the graph does."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    resolver = graph.resolver
    resources = [(uri, Resource.from_contents(doc, default_specification=DRAFT7))
                 for uri, doc in resolver.documents().items() if isinstance(doc, dict | bool)]
    registry = Registry().with_resources(resources)
    return cls(schema, registry=registry)
