"""A small helper to write a seeded workload for any pipeline (rides and media use it).

``envelope_workload`` makes ``n`` inputs of the ingress type from a seed: ``valid`` ones
(expected to complete), ``high_risk`` ones (the pipeline's "must be declined" case) and
``invalid`` ones (malformed bytes or a missing required field; expected dead-lettered).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from harness.envelope import Envelope, Producer
from harness.workload import WorkItem

__all__ = ["envelope_workload"]

PayloadFn = Callable[[random.Random, int, str], dict[str, Any]]


def envelope_workload(n: int, seed: int, *, mix: Mapping[str, float], run_tag: str,
                      ingress_type: str, prefix: str, payload: PayloadFn,
                      required: tuple[str, ...], version: int = 1) -> list[WorkItem]:
    """Seeded inputs; ``payload(rng, i, kind)`` builds a payload for kind valid or high_risk."""
    rng = random.Random(f"{prefix}:{seed}")
    invalid = float(mix.get("invalid", 0.0))
    high = float(mix.get("high_risk", 0.0))
    forced = ["malformed_bytes", "missing_field"] if n >= 20 and invalid > 0 else []
    forced_at = set(rng.sample(range(n), len(forced))) if forced else set()
    producer = Producer("workload", "1")
    items: list[WorkItem] = []
    for i in range(n):
        cid = f"{prefix}-{run_tag}{seed}-{i:06d}"
        roll = rng.random()
        if i in forced_at:
            kind = forced.pop()
        elif roll < invalid:
            kind = rng.choice(["malformed_bytes", "missing_field"])
        elif roll < invalid + high:
            kind = "high_risk"
        else:
            kind = "valid"
        body_payload = payload(rng, i, "high_risk" if kind == "high_risk" else "valid")
        if kind == "missing_field":
            del body_payload[rng.choice(list(required))]
        env = Envelope.ingress(type=ingress_type, schema_version=version, payload=body_payload,
                               correlation_id=cid, producer=producer, identity=cid)
        body = env.to_bytes()
        if kind == "malformed_bytes":
            cut = rng.randint(10, len(body) - 10)
            body = body[:cut] + b"\xff{"
        valid = kind in ("valid", "high_risk")
        expect = {"valid": "completed", "high_risk": "declined"}.get(kind, "dead_lettered")
        items.append(WorkItem(cid, env if valid else None, body, valid, expect, kind))
    return items
