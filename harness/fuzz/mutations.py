"""Invalid inputs made by mutating valid ones, each labelled with its kind.

A mutation takes a Hypothesis ``draw``, a valid envelope and a :class:`MutationContext`, and
returns either an envelope (payload or header changes) or raw bytes (wire-level damage), plus a
note naming what it changed. The oracle (:func:`harness.fuzz.case.classify`) then decides whether
the result is still valid: renaming an optional field of an open schema, for instance, is not an
error, and the agent must then process it normally.

Kinds (``MUTATIONS``): missing_required, wrong_type, renamed_field, extra_field,
boundary_number, huge_string, huge_array, deep_nesting, nul_in_string, payload_not_object,
unknown_version, wrong_version, unexpected_type, bad_schema_version, missing_envelope_field,
bad_envelope_field, invalid_utf8, nul_byte, duplicate_key, truncated, nan_literal, too_large.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

from harness.agents.sdk import MessageRef
from harness.contracts.registry import SchemaRegistry
from harness.envelope import MAX_ENVELOPE_BYTES, Envelope

__all__ = ["MUTATIONS", "Mutated", "MutationContext"]

Mutated = tuple["Envelope | bytes", str]
Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass
class MutationContext:
    """What a mutation may need: the registry, the consumed ref and its schema."""

    registry: SchemaRegistry
    ref: MessageRef
    schema: Any
    consumes: list[MessageRef]

    @property
    def properties(self) -> dict[str, Any]:
        props = self.schema.get("properties") if isinstance(self.schema, dict) else None
        return props if isinstance(props, dict) else {}

    @property
    def required(self) -> list[str]:
        req = self.schema.get("required") if isinstance(self.schema, dict) else None
        return list(req) if isinstance(req, list) else []


_OTHER_TYPE_VALUES: list[Any] = [None, True, 0, -1, 1.5, "", "1", [], {}, ["x"], {"a": 1}]


def _pick(draw: Draw, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (shrinks towards the first), drawn through a cached integer strategy:
    a ``sampled_from`` built inside a draw is re-validated by Hypothesis on every draw."""
    return choices[draw(st.integers(0, len(choices) - 1))]


def _payload(env: Envelope) -> dict[str, Any]:
    return dict(env.payload) if isinstance(env.payload, dict) else {}


def _pick_key(draw: Draw, payload: dict[str, Any], prefer: list[str]) -> str | None:
    keys = [k for k in prefer if k in payload] or list(payload)
    return _pick(draw, sorted(keys)) if keys else None


def missing_required(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, ctx.required)
    if key is None:
        return env.with_payload(None), "payload null"
    del p[key]
    return env.with_payload(p), f"removed {key}"


def wrong_type(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, ctx.required)
    if key is None:
        return env.with_payload([]), "payload []"
    current = p[key]
    choices = [v for v in _OTHER_TYPE_VALUES if type(v) is not type(current)]
    p[key] = _pick(draw, choices)
    return env.with_payload(p), f"{key} = {p[key]!r}"


def renamed_field(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, ctx.required)
    if key is None:
        return env.with_payload({"x": 1}), "payload {x: 1}"
    suffix = _pick(draw, ["_v2", "Id", "_", "2"])
    new = _pick(draw, [key + suffix, key.upper(), key.replace("_", "")])
    if new == key:
        new = key + "_v2"
    p[new] = p.pop(key)
    return env.with_payload(p), f"renamed {key} -> {new}"


def extra_field(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    name = _pick(draw, ["extra", "__proto__", "risk_score", "constructor", "$where"])
    if name in ctx.properties:
        name = name + "_x"
    p[name] = _pick(draw, _OTHER_TYPE_VALUES)
    return env.with_payload(p), f"added {name}"


def boundary_number(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    numeric = [k for k, s in ctx.properties.items()
               if isinstance(s, dict) and s.get("type") in ("integer", "number")]
    key = _pick(draw, sorted(numeric)) if numeric else _pick_key(draw, p, [])
    if key is None:
        return env.with_payload(0), "payload 0"
    sub = ctx.properties.get(key, {})
    candidates: list[Any] = [0, -1, 2**63, -(2**63), 2**64 + 1, 10**30, 1e308, -1e-308, 0.5]
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = sub.get(bound) if isinstance(sub, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            candidates.extend([value - 1, value, value + 1, value + 0.5])
    p[key] = _pick(draw, candidates)
    return env.with_payload(p), f"{key} = {p[key]!r}"


def huge_string(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, [k for k, v in p.items() if isinstance(v, str)])
    size = _pick(draw, [10_000, 100_000, 400_000])
    char = _pick(draw, ["a", "é", "😀", " "])
    key = key or "huge"
    p[key] = char * size
    return env.with_payload(p), f"{key} = {char!r} * {size}"


def huge_array(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    arrays = [k for k, s in ctx.properties.items() if isinstance(s, dict) and s.get("type") ==
              "array"]
    key = _pick(draw, sorted(arrays)) if arrays else _pick_key(draw, p, ctx.required)
    key = key or "huge"
    size = _pick(draw, [1_000, 10_000])
    p[key] = ["x"] * size if draw(st.booleans()) else [0] * size
    return env.with_payload(p), f"{key} = array of {size}"


def deep_nesting(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, ctx.required) or "deep"
    depth = _pick(draw, [64, 1_000, 100_000])
    open_, close = _pick(draw, [("[", "]"), ('{"a":', "}")])
    p[key] = "__HARNESS_DEEP__"
    body = env.with_payload(p).to_bytes().replace(
        b'"__HARNESS_DEEP__"', (open_ * depth + "1" + close * depth).encode())
    return body, f"{key} nested {depth} deep"


def nul_in_string(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, [k for k, v in p.items() if isinstance(v, str)]) or "nul"
    value: str = p[key] if isinstance(p.get(key), str) else ""
    pos = draw(st.integers(0, len(value)))
    p[key] = value[:pos] + "\x00" + value[pos:]
    return env.with_payload(p), f"NUL in {key} at {pos}"


def payload_not_object(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    value = _pick(draw, [None, [], "payload", 0, True, [env.payload]])
    return env.with_payload(value), f"payload = {type(value).__name__}"


def _subject_versions(ctx: MutationContext) -> list[int]:
    subject = ctx.registry.subjects.get(ctx.ref.type)
    return sorted(subject.versions) if subject else [ctx.ref.version]


def unknown_version(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    top = max(_subject_versions(ctx))
    version = _pick(draw, [top + 1, top + 2, 999, 2**31])
    return replace(env, schema_version=version), f"schema_version = {version}"


def wrong_version(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    consumed = {r.version for r in ctx.consumes if r.type == ctx.ref.type}
    others = [v for v in _subject_versions(ctx) if v not in consumed]
    if not others:
        return unknown_version(draw, env, ctx)
    version = _pick(draw, others)
    return replace(env, schema_version=version), f"schema_version = {version} (not consumed)"


def unexpected_type(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    consumed = {r.type for r in ctx.consumes}
    others = sorted(s for s in ctx.registry.subjects if s not in consumed)
    others += [ctx.ref.type + ".v2", ctx.ref.type.upper(), "unknown.type"]
    new = _pick(draw, others)
    return replace(env, type=new), f"type = {new}"


def bad_schema_version(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    value = _pick(draw, [0, -1, "1", 1.5, True, None, "v1"])
    data = env.to_dict()
    data["schema_version"] = value
    return _dump(data), f"schema_version = {value!r}"


_ENVELOPE_FIELDS = ("message_id", "correlation_id", "type", "schema_version", "idempotency_key",
                    "producer", "produced_at", "trace", "payload")


def missing_envelope_field(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    name = _pick(draw, [f for f in _ENVELOPE_FIELDS if f != "correlation_id"])
    data = env.to_dict()
    del data[name]
    return _dump(data), f"envelope without {name}"


def bad_envelope_field(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    data = env.to_dict()
    name, value = _pick(draw, [
        ("envelope", 2), ("message_id", ""), ("message_id", 7), ("idempotency_key", None),
        ("producer", "fuzz"), ("producer", {"agent": 1}), ("trace", {"traceparent": "00-x"}),
        ("trace", None), ("causation_id", ""), ("produced_at", ["now"]),
        ("message_id", "m\x00id"), ("idempotency_key", "k" * 600),
    ])
    data[name] = value
    return _dump(data), f"envelope {name} = {str(value)[:30]!r}"


def invalid_utf8(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    body = env.to_bytes()
    junk = _pick(draw, [b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xc0\xaf",
                                 b"\xf8\x88\x80\x80\x80"])
    pos = draw(st.integers(0, len(body)))
    return body[:pos] + junk + body[pos:], f"{junk!r} at byte {pos}"


def nul_byte(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    body = env.to_bytes()
    pos = draw(st.integers(0, len(body)))
    return body[:pos] + b"\x00" + body[pos:], f"raw NUL at byte {pos}"


def duplicate_key(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    body = env.to_bytes()
    if draw(st.booleans()) and isinstance(env.payload, dict) and env.payload:
        key = _pick(draw, sorted(env.payload))
        value = json.dumps(env.payload[key], ensure_ascii=False).encode()
        marker = b'"payload":{'
        at = body.rfind(marker) + len(marker)
        return (body[:at] + json.dumps(key).encode() + b":" + value + b"," + body[at:],
                f"payload key {key} twice")
    key = _pick(draw, ["type", "schema_version", "correlation_id", "payload"])
    value = json.dumps(env.to_dict()[key], ensure_ascii=False).encode()
    return b"{" + json.dumps(key).encode() + b":" + value + b"," + body[1:], f"key {key} twice"


def truncated(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    body = env.to_bytes()
    cut = draw(st.integers(0, len(body) - 1))
    return body[:cut], f"cut at byte {cut} of {len(body)}"


def nan_literal(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    key = _pick_key(draw, p, ctx.required) or "n"
    literal = _pick(draw, [b"NaN", b"Infinity", b"-Infinity"])
    p[key] = "__HARNESS_NAN__"
    body = env.with_payload(p).to_bytes().replace(b'"__HARNESS_NAN__"', literal)
    return body, f"{key} = {literal.decode()}"


def too_large(draw: Draw, env: Envelope, ctx: MutationContext) -> Mutated:
    p = _payload(env)
    extra = draw(st.integers(1, 1000))
    p["padding"] = "x" * (MAX_ENVELOPE_BYTES + extra)
    return env.with_payload(p), f"envelope over {MAX_ENVELOPE_BYTES} bytes"


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


#: kind -> mutation
MUTATIONS: dict[str, Callable[[Draw, Envelope, MutationContext], Mutated]] = {
    f.__name__: f for f in (
        missing_required, wrong_type, renamed_field, extra_field, boundary_number, huge_string,
        huge_array, deep_nesting, nul_in_string, payload_not_object, unknown_version,
        wrong_version, unexpected_type, bad_schema_version, missing_envelope_field,
        bad_envelope_field, invalid_utf8, nul_byte, duplicate_key, truncated, nan_literal,
        too_large,
    )
}
