"""Bands of the input space a workload must cover: the pipeline's ``partitions`` over the
ingress schema's ranges.

A pipeline declares, per field of its ingress type, where its agents branch::

    partitions:
      payment.requested:
        amount_cents: {edges: [250000, 500000], high_risk: [500000]}
        memo: {values: [~, "", "thanks!"], high_risk: ["gift card for my nephew"]}

Numbers are band edges inside the schema's ``minimum``..``maximum`` (so ``[250000, 500000]``
makes three bands: minimum..249999, 250000..499999, 500000..maximum); anything else is a list of
values (``~`` = the field is absent). ``high_risk`` names the bands (by their first edge) or
values whose inputs the pipeline declines; a plain list is shorthand for bands that all
complete. :func:`cover` rewrites a workload's valid and high-risk inputs so that, in turn, every
band of every field is drawn, at its lower boundary, its upper boundary and in between; a
high-risk input gets one field in a high-risk band and the others in ordinary ones, so the
workload's expectations stay right. Everything is drawn from the seed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import PipelineError

__all__ = ["Band", "FieldBands", "cover", "exercised", "field_bands", "for_pipeline", "label_of"]

@dataclass(frozen=True)
class Band:
    """One band of one field: a closed numeric range or one value."""

    label: str
    high_risk: bool = False
    lo: float | None = None
    hi: float | None = None
    value: Any = None
    integer: bool = True

    def draw(self, rng: random.Random, turn: int) -> Any:
        """The lower boundary, the upper boundary, then a value inside, in turn."""
        if self.lo is None or self.hi is None:
            return self.value
        if turn % 3 == 0:
            return self.lo
        if turn % 3 == 1:
            return self.hi
        if self.integer:
            return rng.randint(int(self.lo), int(self.hi))
        return round(rng.uniform(self.lo, self.hi), 6)

    def holds(self, value: Any) -> bool:
        if self.lo is None or self.hi is None:
            return value == self.value
        return isinstance(value, (int, float)) and self.lo <= value <= self.hi


@dataclass
class FieldBands:
    """A field's bands and the turn each one is at."""

    field: str
    bands: list[Band]
    turns: dict[str, int] = dataclasses.field(default_factory=dict)

    def pick(self, rng: random.Random, *, high_risk: bool | None) -> Band | None:
        """The next band of the wanted kind (None: any kind), least drawn first."""
        pool = [b for b in self.bands if high_risk is None or b.high_risk == high_risk]
        if not pool:
            return None
        low = min(self.turns.get(b.label, 0) for b in pool)
        return rng.choice([b for b in pool if self.turns.get(b.label, 0) == low])

    def draw(self, rng: random.Random, band: Band) -> Any:
        turn = self.turns.get(band.label, 0)
        self.turns[band.label] = turn + 1
        return band.draw(rng, turn)


def field_bands(partitions: Mapping[str, Any], schema: Mapping[str, Any] | None, *,
                where: str = "partitions") -> list[FieldBands]:
    """The bands of each partitioned field of one message type (schema ranges applied)."""
    props = (schema or {}).get("properties") or {}
    out: list[FieldBands] = []
    for name, node in partitions.items():
        prop = props.get(name) or {}
        if isinstance(node, list):
            node = {"edges": node} if node and all(_number(v) for v in node) else {
                "values": node}
        if not isinstance(node, Mapping) or not ({"edges", "values"} & set(node)):
            raise PipelineError("must be a list, {edges: [...]} or {values: [...]}",
                                where=f"{where}.{name}")
        risky = list(node.get("high_risk") or [])
        if "edges" in node:
            bands = _numeric(name, list(node["edges"]), risky, prop, where)
        else:
            bands = [Band(_show(v), False, value=v) for v in node["values"]]
            bands += [Band(_show(v), True, value=v) for v in risky]
        out.append(FieldBands(name, bands))
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    return "absent" if v is None else repr(v)


def _numeric(name: str, edges: list[Any], risky: list[Any], prop: Mapping[str, Any],
             where: str) -> list[Band]:
    if not edges or not all(_number(v) for v in edges + risky) or edges != sorted(edges):
        raise PipelineError("edges must be increasing numbers (high_risk: some of them)",
                            where=f"{where}.{name}")
    integer = prop.get("type") == "integer" or all(isinstance(v, int) for v in edges)
    step = 1 if integer else 1e-6
    if "minimum" in prop:
        lo = prop["minimum"]
    elif "exclusiveMinimum" in prop:
        lo = prop["exclusiveMinimum"] + step
    else:
        lo = min(0, edges[0])
    if "maximum" in prop:
        hi = prop["maximum"]
    elif "exclusiveMaximum" in prop:
        hi = prop["exclusiveMaximum"] - step
    else:
        hi = edges[-1] * 2
    starts = [lo, *edges]
    ends = [e - step for e in edges] + [hi]
    bands = []
    for a, b in zip(starts, ends, strict=True):
        if a > b:
            continue
        span = f"{int(a)}..{int(b)}" if integer else f"{a:g}..{b:g}"
        bands.append(Band(span, a in risky, lo=a, hi=b, integer=integer))
    return bands


def label_of(bands: FieldBands, value: Any) -> str | None:
    """The band a value falls in (None: none of them)."""
    for band in bands.bands:
        if band.holds(value):
            return band.label
    return None


def cover(items: list[Any], partitions: list[FieldBands], seed: int) -> list[Any]:
    """Rewrite the valid and high-risk inputs (WorkItems with an envelope) so every band is
    drawn in turn; other inputs are left as they are. Same seed, same inputs."""
    if not partitions:
        return items
    rng = random.Random(f"bands:{seed}")
    risky_fields = [f for f in partitions if any(b.high_risk for b in f.bands)]
    out = []
    for item in items:
        env = getattr(item, "envelope", None)
        if env is None or item.kind not in ("valid", "high_risk") or not isinstance(
                env.payload, dict):
            out.append(item)
            continue
        payload = dict(env.payload)
        neutral = item.expect not in ("completed", "declined")  # a schema-drawn input
        hot = None
        if item.kind == "high_risk" and risky_fields and not neutral:
            hot = min(risky_fields, key=_least_drawn_risky)  # the least covered goes first
        for fb in partitions:
            want = None if neutral else (fb is hot)
            band = fb.pick(rng, high_risk=want)
            if band is None:
                continue
            value = fb.draw(rng, band)
            if value is None:
                payload.pop(fb.field, None)
            else:
                payload[fb.field] = value
        new_env = dataclasses.replace(env, payload=payload)
        out.append(dataclasses.replace(item, envelope=new_env, body=new_env.to_bytes()))
    return out


def _least_drawn_risky(fb: FieldBands) -> int:
    return min(fb.turns.get(b.label, 0) for b in fb.bands if b.high_risk)


def exercised(items: list[Any], partitions: list[FieldBands]) -> dict[str, dict[str, int]]:
    """Field -> band label -> how many valid or high-risk inputs fell in it (0 included)."""
    out: dict[str, dict[str, int]] = {}
    for fb in partitions:
        counts = {b.label: 0 for b in fb.bands}
        for item in items:
            env = getattr(item, "envelope", None)
            if env is None or item.kind not in ("valid", "high_risk"):
                continue
            value = env.payload.get(fb.field, None) if isinstance(env.payload, dict) else None
            label = label_of(fb, value)
            if label is not None:
                counts[label] += 1
        out[fb.field] = counts
    return out


def for_pipeline(spec: Any) -> list[FieldBands]:
    """The bands of a pipeline's ingress type (none when it declares no partitions)."""
    declared = (getattr(spec, "partitions", None) or {}).get(spec.ingress.type)
    if not declared:
        return []
    from harness.contracts.registry import SchemaRegistry

    try:
        schema = SchemaRegistry(spec.registry_path).get(spec.ingress.type,
                                                        spec.ingress.version).schema
    except Exception:
        schema = None
    return field_bands(declared, schema, where=f"{spec.path}: partitions.{spec.ingress.type}")
