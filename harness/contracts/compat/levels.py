"""Compatibility levels (modes) over a pair of schemas and over a version chain.

BACKWARD: the new schema reads data written with the old one (``compare(old, new)``).
FORWARD: the old schema reads data written with the new one (``compare(new, old)``).
FULL: both. ``*_TRANSITIVE``: every earlier version, newest first, stopping at the first
failure; the plain levels check the latest earlier version only. NONE: nothing is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.contracts.compat.diff import compare
from harness.contracts.compat.differences import Difference, allowed_set
from harness.contracts.compat.model import SchemaGraph

__all__ = ["MODES", "Direction", "directions", "normalise_mode", "pair_directions",
           "previous_versions"]

MODES = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
         "FULL_TRANSITIVE", "NONE")


def normalise_mode(mode: str) -> str:
    """Upper-case a mode and check it is one of :data:`MODES`."""
    value = str(mode).upper()
    if value not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return value


def directions(mode: str) -> tuple[str, ...]:
    """The directions a mode checks: ``("backward",)``, ``("forward",)``, both, or none."""
    base = normalise_mode(mode).removesuffix("_TRANSITIVE")
    return {"BACKWARD": ("backward",), "FORWARD": ("forward",),
            "FULL": ("backward", "forward"), "NONE": ()}[base]


def previous_versions(mode: str, count: int) -> list[int]:
    """Indexes of earlier versions to check against the newest of ``count``, newest first."""
    if count < 2 or not directions(mode):
        return []
    if normalise_mode(mode).endswith("_TRANSITIVE"):
        return list(range(count - 2, -1, -1))
    return [count - 2]


@dataclass(frozen=True)
class Direction:
    """The result of one direction of one pair.

    Attributes:
        direction: "backward" (writer = old, reader = new) or "forward" (the reverse).
        writer: the graph of the schema that wrote the data.
        reader: the graph of the schema that reads it.
        differences: Confluent's differences from writer to reader, in order.
        compatible: every difference is allowed by the policy.
    """

    direction: str
    writer: SchemaGraph
    reader: SchemaGraph
    differences: list[Difference]
    compatible: bool


def pair_directions(old: SchemaGraph, new: SchemaGraph, mode: str,
                    policy: str) -> list[Direction]:
    """Compare two graphs in every direction the mode asks for."""
    allowed = allowed_set(policy)
    out = []
    for direction in directions(mode):
        writer, reader = (old, new) if direction == "backward" else (new, old)
        diffs = compare(writer, reader, allowed)
        out.append(Direction(direction, writer, reader, diffs,
                             all(d.type in allowed for d in diffs)))
    return out
