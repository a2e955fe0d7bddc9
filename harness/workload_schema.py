"""Inputs for any pipeline, drawn from its ingress type's registry schema (no generator needed).

Valid payloads come from the fuzzer's Hypothesis strategies (:mod:`harness.fuzz.strategies`),
drawn with the run's seed and re-validated by the registry, so "valid" means the runtime's own
validator accepts it. A correct pipeline gives each one a terminal outcome (``completed`` or
``declined``: the workload cannot know which, so it expects ``accepted``). The mix's
``invalid`` share is malformed bytes, a missing required field, a field of the wrong type or a
schema version the registry does not have; each is expected to be dead-lettered.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.envelope import Envelope, Producer
from harness.errors import PipelineError
from harness.workload import WorkItem, pick_kinds

if TYPE_CHECKING:
    from harness.pipeline import PipelineSpec

__all__ = ["SCHEMA_INVALID_KINDS", "draw_payloads", "schema_workload"]

SCHEMA_INVALID_KINDS = ("malformed_bytes", "missing_field", "wrong_type", "wrong_version")
#: what a valid schema-drawn input is expected to reach: completed or declined
ACCEPTED = "accepted"
_WRONG = {"string": 12345, "integer": "not-a-number", "number": "NaN?", "boolean": "yes",
          "array": {"not": "a list"}, "object": ["not", "an", "object"]}


def draw_payloads(spec: PipelineSpec, n: int, seed: int) -> list[Any]:
    """``n`` valid payloads of the ingress type from the registry schema (same seed, same
    payloads); fewer distinct ones repeat when the schema allows only a few."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from harness.contracts.registry import SchemaRegistry
    from harness.fuzz.strategies import PayloadStrategies

    ref = spec.ingress
    registry = SchemaRegistry(spec.registry_path)
    try:
        registry.get(ref.type, ref.version)
    except Exception as exc:
        raise PipelineError(f"the registry has no schema for the ingress type {ref} "
                            f"({exc}); write one or name a workload generator",
                            where=spec.where("ingress")) from None
    strategy = PayloadStrategies(registry).plain(ref)
    out: list[Any] = []

    @settings(max_examples=max(n, 1), database=None, phases=(Phase.generate,), deadline=None,
              suppress_health_check=list(HealthCheck))
    @hseed(seed)
    @given(strategy)
    def grab(payload: Any) -> None:
        if len(out) < n:
            out.append(payload)

    grab()
    if not out:
        raise PipelineError(f"no valid payload of {ref} could be drawn from its schema",
                            where=spec.where("ingress"))
    while len(out) < n:
        out.append(out[len(out) % max(1, len(out))])
    return out


def _wrong_type(payload: Any, schema: Any, rng: random.Random) -> Any:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(payload, dict) or not isinstance(props, dict):
        return None
    names = sorted(k for k in payload if isinstance(props.get(k), dict)
                   and props[k].get("type") in _WRONG)
    if not names:
        return None
    name = rng.choice(names)
    return {**payload, name: _WRONG[props[name]["type"]]}


def schema_workload(spec: PipelineSpec, n: int, seed: int, *, mix: Mapping[str, float],
                    run_tag: str = "") -> list[WorkItem]:
    """A seeded workload for any pipeline, drawn from its ingress schema."""
    from harness.contracts.registry import SchemaRegistry

    ref = spec.ingress
    registry = SchemaRegistry(spec.registry_path)
    payloads = draw_payloads(spec, n, seed)
    schema = registry.get(ref.type, ref.version).schema
    required = [k for k in (schema.get("required") or []) if isinstance(k, str)] \
        if isinstance(schema, dict) else []
    subject = registry.subjects.get(ref.type)
    missing_version = (max(subject.versions) if subject else ref.version) + 7
    rng = random.Random(f"schema-workload:{spec.name}:{seed}")
    producer = Producer("workload", "1")
    items: list[WorkItem] = []
    invalid = float(mix.get("invalid", 0.0))
    for i, kind in pick_kinds(rng, n, invalid_kinds=SCHEMA_INVALID_KINDS, invalid=invalid,
                              high_risk=0.0):
        cid = f"{spec.name}-{run_tag}{seed}-{i:06d}"
        payload = payloads[i]
        version = ref.version
        if kind == "missing_field":
            gone = rng.choice(required) if required else None
            if isinstance(payload, dict) and gone in payload:
                payload = {k: v for k, v in payload.items() if k != gone}
            if registry.is_valid(ref.type, ref.version, payload):
                kind = "wrong_version"  # nothing required to leave out
        if kind == "wrong_type":
            wrong = _wrong_type(payload, schema, rng)
            if wrong is None or registry.is_valid(ref.type, ref.version, wrong):
                kind = "wrong_version"
            else:
                payload = wrong
        if kind == "wrong_version":
            version = missing_version
        env = Envelope.ingress(type=ref.type, schema_version=version, payload=payload,
                               correlation_id=cid, producer=producer, identity=cid)
        body = env.to_bytes()
        if kind == "malformed_bytes":
            cut = rng.randint(min(10, len(body) - 1), max(10, len(body) - 10))
            body = body[:cut] + b"\xff{"
        if kind == "valid":
            items.append(WorkItem(cid, env, body, True, ACCEPTED, kind))
        else:
            items.append(WorkItem(cid, None, body, False, "dead_lettered", kind))
    return items
