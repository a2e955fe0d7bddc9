"""Hypothesis strategies generated from the schema registry.

Every generated payload is re-validated with the registry's real validator (generators ignore
some keywords), so "valid" always means "the runtime's own validator accepts it".

Payload strategies are built once per (type, version): for plain object schemas (``properties``,
``required``, ``additionalProperties``) each property's strategy is resolved once with
``hypothesis_jsonschema.from_schema`` and combined with ``fixed_dictionaries``; anything more
complex falls back to ``from_schema`` of the whole schema (slower: it re-resolves per draw).

Valid payloads are generated ones where up to four properties are then set to *edge* values
their schema allows (minimum, maximum, shortest and longest strings, every enum
member, empty and unusual text), because crashes hide at the edges.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import validators

from harness.agents.sdk import MessageRef
from harness.contracts.ecma import ecma_validator_class
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope, Producer
from harness.fuzz.patterns import simple_pattern

__all__ = [
    "FIXED_TIME",
    "LLM_INPUT_KEY",
    "PayloadStrategies",
    "correlation_ids",
    "edge_values",
    "envelope_for",
    "llm_fields",
]

#: The annotation that marks a free-text field handed to a language model.
LLM_INPUT_KEY = "x-llm-input"
#: ``produced_at`` of generated envelopes (fixed so the same seed gives the same bytes).
FIXED_TIME = "2026-01-01T00:00:00.000000Z"
_SIMPLE_OBJECT_KEYS = {"$schema", "$id", "title", "description", "type", "properties", "required",
                       "additionalProperties", "examples", "$comment", "default", "definitions",
                       "$defs"}
_UNUSUAL_TEXT = ["", " ", "\u0000", "\t\n", "é", "\u202e", "😀", "\ufeff", "null", "0", "-1",
                 "'\"", "<b>", "%s", "\\", "a" * 1000, "None", "true", "NaN", "${x}", "{{x}}",
                 "../", "\r\n", "\u00a0", "İ", "ß", "\ud7ff", "\U0010ffff", "a\u0300",
                 "DROP TABLE", "admin", "test"]


#: what :meth:`PayloadStrategies._edge` draws for a payload the registry refuses (filtered out)
_REJECTED = object()


def correlation_ids() -> st.SearchStrategy[str]:
    """Correlation ids like a workload's (``fz-`` plus 8 hex digits)."""
    return st.text("0123456789abcdef", min_size=8, max_size=8).map(lambda s: f"fz-{s}")


def envelope_for(ref: MessageRef, payload: Any, cid: str, *, upstream: str = "fuzz") -> Envelope:
    """A well-formed envelope of ``ref`` around ``payload``, as a conforming upstream sends it."""
    return Envelope.ingress(type=ref.type, schema_version=ref.version, payload=payload,
                            correlation_id=cid, producer=Producer(upstream, "1"),
                            produced_at=FIXED_TIME)


def llm_fields(schema: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (tuples of property names) of string fields marked ``x-llm-input: true``."""
    out: list[tuple[str, ...]] = []
    if not isinstance(schema, dict):
        return out
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get(LLM_INPUT_KEY) is True:
            out.append((*prefix, name))
        else:
            out.extend(llm_fields(sub, (*prefix, name)))
    return out


def edge_values(schema: Any) -> list[Any]:
    """Boundary and other interesting values for a property schema (candidates; the caller
    re-validates). Boundaries are repeated so that they are drawn more often."""
    if not isinstance(schema, dict):
        return []
    out: list[Any] = []
    if "enum" in schema:
        out.extend(schema["enum"])
    if "const" in schema:
        out.append(schema["const"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        for bound in (lo, hi):
            if bound is not None:  # boundaries weigh more than the other interesting numbers
                out.extend([bound, bound + 1, bound - 1] * 6)
        out.extend([0, 1, -1, 2, 3, 7, 13, 42, 99, 100, 101, 127, 128, 255, 256, 999, 1000,
                    1001, 1023, 1024, 9999, 10_000, 65535, 65536, 99_999, 100_000, 999_999,
                    1_000_000, 2**31 - 1, 2**31, 2**32, 2**53])
        if hi is not None and lo is not None:
            out.extend([(lo + hi) // 2, hi // 2, hi // 10, hi // 100])
        if kind == "number":
            out.extend([0.5, -0.0, 1e-9, 1.7976931348623157e308])
    elif kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        out.extend(["x" * lo] * 4)
        if hi is not None:
            out.extend(["x" * hi, "é" * hi, "😀" * hi] * 4)
        out.extend(_UNUSUAL_TEXT)
    elif kind == "array":
        out.append([])
        hi = schema.get("maxItems")
        items = schema.get("items")
        sample = edge_values(items)[:1] if isinstance(items, dict) else []
        if hi is not None and sample:
            out.append(sample * hi)
    elif kind == "boolean":
        out.extend([True, False])
    return out


@dataclass
class PayloadStrategies:
    """Cached payload strategies for the (type, version) pairs of one registry.

    Args:
        registry: the schema registry (its validator is the oracle).
    """

    registry: SchemaRegistry
    _cache: dict[tuple[str, int], st.SearchStrategy[Any]] = field(default_factory=dict)
    _inlined: dict[tuple[str, int], Any] = field(default_factory=dict)

    def schema(self, ref: MessageRef) -> Any:
        return self.registry.get(ref.type, ref.version).schema

    def valid(self, ref: MessageRef) -> st.SearchStrategy[Any]:
        """Payloads of ``ref`` that the registry's validator accepts (plain and edge values)."""
        key = (ref.type, ref.version)
        cached = self._cache.get(key)
        if cached is None and self.registry.get(ref.type, ref.version).format != "json":
            from harness.fuzz.binary import payload_strategy  # .proto/.avsc subjects

            cached = self._cache[key] = payload_strategy(self.registry, ref.type, ref.version,
                                                         self._base)
        if cached is None:
            cached = self._cache[key] = self._edge(ref, self._base(self.inlined(ref)))
        return cached

    def plain(self, ref: MessageRef) -> st.SearchStrategy[Any]:
        """Payloads of ``ref`` the registry accepts, without the deliberate edge values (the
        inputs of an ordinary run: harness.workload_schema)."""
        return self._base(self.inlined(ref)).filter(
            lambda p: self.registry.is_valid(ref.type, ref.version, p))

    def inlined(self, ref: MessageRef) -> Any:
        """The schema with every ``$ref`` replaced by what it points to (in the same file or in
        another registry file), since hypothesis-jsonschema cannot follow file references."""
        from referencing import Resource
        from referencing.jsonschema import DRAFT7

        cached = self._inlined.get((ref.type, ref.version))
        if cached is not None:
            return cached
        sv = self.registry.get(ref.type, ref.version)
        if sv.format != "json":  # a binary payload object (docs/protobuf-avro.md)
            from harness.fuzz.binary import PAYLOAD_OBJECT_SCHEMA

            return PAYLOAD_OBJECT_SCHEMA
        resource = Resource.from_contents(sv.schema, default_specification=DRAFT7)
        resolver = self.registry.referencing_registry.with_resource(sv.uri, resource).resolver(
            base_uri=sv.uri)
        self._inlined[(ref.type, ref.version)] = _inline(sv.schema, resolver, 0)
        return self._inlined[(ref.type, ref.version)]

    def _base(self, schema: Any) -> st.SearchStrategy[Any]:
        if not _is_simple_object(schema):
            return from_schema(_strip(schema))
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        fixed = {k: _property(v) for k, v in props.items() if k in required}
        optional = {k: _property(v) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(fixed, optional=optional)

    def edges(self, ref: MessageRef) -> dict[str, list[Any]]:
        """Per top-level property, the edge values its own schema allows (sorted by name)."""
        schema = self.inlined(ref)
        props = schema.get("properties") if isinstance(schema, dict) else None
        edges: dict[str, list[Any]] = {}
        for name, sub in (props or {}).items():
            if not isinstance(sub, dict):
                continue
            cls = validators.validator_for(sub, default=validators.Draft7Validator)
            check = ecma_validator_class(cls)(_strip(sub))
            values = [v for v in edge_values(sub) if _safe_is_valid(check, v)]
            if values:
                edges[name] = values
        return dict(sorted(edges.items()))

    def boundary(self, ref: MessageRef) -> list[Any]:
        """A deterministic boundary sweep: the minimal valid payload with one property at a time
        set to each distinct edge value (round-robin over properties, so a short sweep still
        reaches every property), kept when the whole payload is still valid."""
        base = self.minimal(ref)
        if not isinstance(base, dict):
            return []
        out: list[Any] = []
        seen: set[str] = set()
        edges = self.edges(ref)
        # round-robin over the properties: every property's first edge value, then the second...
        rounds = max((len(v) for v in edges.values()), default=0)
        for i in range(rounds):
            for name, values in edges.items():
                if i >= len(values):
                    continue
                candidate = {**base, name: values[i]}
                key = json.dumps(candidate, sort_keys=True, default=repr)
                if key in seen or not self.registry.is_valid(ref.type, ref.version,
                                                             candidate):
                    continue
                seen.add(key)
                out.append(candidate)
        return out

    def extremes(self, ref: MessageRef) -> list[Any]:
        """The minimal valid payload with every numeric property at its largest, then at its
        smallest, allowed value (decisions often hinge on a threshold); the valid ones."""
        base = self.minimal(ref)
        schema = self.inlined(ref)
        if not isinstance(base, dict) or not isinstance(schema, dict):
            return []
        props = schema.get("properties") or {}
        out: list[Any] = []
        for pick in (max, min):
            candidate = dict(base)
            for name, sub in props.items():
                if isinstance(sub, dict) and sub.get("type") in ("integer", "number"):
                    bounds = [sub[k] for k in ("minimum", "maximum") if k in sub]
                    if bounds:
                        candidate[name] = pick(bounds)
            if candidate != base and self.registry.is_valid(ref.type, ref.version, candidate):
                out.append(candidate)
        return out

    def _edge(self, ref: MessageRef, base: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """``base`` with up to four properties set to edge values their schema allows; only
        payloads the registry accepts (each validated once)."""
        edges = self.edges(ref)
        registry = self.registry

        def check(payload: Any, chosen: list[tuple[str, Any]]) -> Any:
            if chosen and isinstance(payload, dict):
                candidate = {**payload, **dict(chosen)}
                if registry.is_valid(ref.type, ref.version, candidate):
                    return candidate
            return payload if registry.is_valid(ref.type, ref.version, payload) \
                else _REJECTED

        # one strategy per property, built once (not a flatmap that builds one per draw)
        one = st.one_of([st.tuples(st.just(name), st.sampled_from(values))
                         for name, values in edges.items()]) if edges else st.nothing()
        return st.builds(check, base, st.lists(one, min_size=0, max_size=4 if edges else 0)) \
            .filter(lambda p: p is not _REJECTED)

    def minimal(self, ref: MessageRef) -> Any:
        """A deterministic valid payload: the first (simplest) one the strategy makes."""
        from hypothesis import HealthCheck, Phase, given, seed, settings

        out: list[Any] = []

        @settings(max_examples=1, database=None, phases=(Phase.generate,), deadline=None,
                  suppress_health_check=list(HealthCheck))
        @seed(0)
        @given(self.valid(ref))
        def grab(payload: Any) -> None:
            out.append(payload)

        grab()
        return out[0]


#: keywords a patterned string property may have and still use :func:`simple_pattern`
_PATTERN_ONLY = {"type", "pattern", "title", "description", "$comment", "examples"}


def _property(schema: Any) -> st.SearchStrategy[Any]:
    """One property's strategy: a simple anchored pattern drawn directly
    (:mod:`harness.fuzz.patterns`), else hypothesis-jsonschema's."""
    stripped = _strip(schema)
    if isinstance(stripped, dict) and stripped.get("type") == "string" \
            and "pattern" in stripped and set(stripped) <= _PATTERN_ONLY:
        fast = simple_pattern(stripped["pattern"])
        if fast is not None:
            return fast
    return from_schema(stripped)


def _inline(schema: Any, resolver: Any, depth: int) -> Any:
    if isinstance(schema, list):
        return [_inline(v, resolver, depth) for v in schema]
    if not isinstance(schema, dict):
        return schema
    if isinstance(schema.get("$ref"), str) and depth < 20:  # deeper: recursive, left alone
        resolved = resolver.lookup(schema["$ref"])
        target = resolved.contents
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**target, **rest} if isinstance(target, dict) else target
        return _inline(merged, resolved.resolver, depth + 1)
    return {k: (v if k in ("enum", "const", "examples", "default") else
                _inline(v, resolver, depth)) for k, v in schema.items()}


def _safe_is_valid(validator: Any, value: Any) -> bool:
    try:
        return bool(validator.is_valid(value))
    except Exception:  # a subschema with a $ref the bare validator cannot resolve
        return False


def _is_simple_object(schema: Any) -> bool:
    return (isinstance(schema, dict) and schema.get("type") == "object"
            and set(schema) <= _SIMPLE_OBJECT_KEYS
            and isinstance(schema.get("additionalProperties", True), bool))


def _strip(schema: Any) -> Any:
    """Drop annotation keywords hypothesis-jsonschema does not need (``x-*``)."""
    if isinstance(schema, dict):
        return {k: ({n: _strip(p) for n, p in v.items()} if k == "properties"
                    and isinstance(v, dict) else _strip(v))
                for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def iter_refs(refs: list[MessageRef], registry: SchemaRegistry) -> Iterator[MessageRef]:
    """The refs that exist in the registry."""
    return (r for r in refs if (r.type, r.version) in registry)
