"""Seeded uploads: cleared videos (published), rights-flagged ones (declined), invalid ones."""

from __future__ import annotations

import random
from collections.abc import Mapping

from harness.workload import WorkItem, envelope_workload


def _video(rng: random.Random, i: int, kind: str) -> dict:
    return {"video_id": f"vid-{i:06d}", "title": rng.choice(["keynote", "recipe", "match"]),
            "duration_s": rng.randint(10, 1800),
            "rights": "flagged" if kind == "high_risk" else "cleared"}


def media_workload(n: int, seed: int, *, mix: Mapping[str, float],
                   run_tag: str = "") -> list[WorkItem]:
    return envelope_workload(n, seed, mix=mix, run_tag=run_tag, ingress_type="video.uploaded",
                             prefix="vid", payload=_video,
                             required=("video_id", "duration_s", "rights"))
