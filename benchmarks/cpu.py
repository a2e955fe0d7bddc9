"""CPU time of a benchmark's measured work, its forked or spawned children's included."""

from __future__ import annotations

import os

__all__ = ["cpu_seconds"]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have been waited
    for (a forked judge, a fuzz budget's second half, a tool run as a subprocess)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
