"""Seeded ride requests: valid, in a zone with no drivers (declined), or invalid."""

from __future__ import annotations

import random
from collections.abc import Mapping

from harness.workload import WorkItem, envelope_workload

ZONES = [f"zone-{i:02d}" for i in range(1, 13)]


def _ride(rng: random.Random, i: int, kind: str) -> dict:
    pickup = "zone-remote" if kind == "high_risk" else rng.choice(ZONES)
    return {"ride_id": f"ride-{i:06d}", "rider_id": f"rider-{rng.randint(1, 300):04d}",
            "pickup_zone": pickup, "dropoff_zone": rng.choice(ZONES)}


def rides_workload(n: int, seed: int, *, mix: Mapping[str, float],
                   run_tag: str = "") -> list[WorkItem]:
    return envelope_workload(n, seed, mix=mix, run_tag=run_tag, ingress_type="ride.requested",
                             prefix="ride", payload=_ride,
                             required=("ride_id", "pickup_zone", "dropoff_zone"))
