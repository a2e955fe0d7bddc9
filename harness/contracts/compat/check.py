"""The public checks: one pair of schemas, and every subject of a file registry.

``check_compatibility`` returns a :class:`CompatResult`; ``check_registry`` returns one
:class:`SubjectVerdict` per subject. Both return data only; the CLI renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.contracts.compat.diff import compare
from harness.contracts.compat.differences import STRICT, Difference, allowed_set
from harness.contracts.compat.explain import explain, fixes
from harness.contracts.compat.levels import Direction, normalise_mode, pair_directions
from harness.contracts.compat.loading import load_graph
from harness.contracts.compat.model import SchemaGraph
from harness.contracts.compat.renames import Rename, find_renames
from harness.contracts.compat.witness import Witness, find_witness

__all__ = ["Change", "CompatResult", "check_compatibility", "check_graphs", "load_graph"]


@dataclass(frozen=True)
class Change:
    """One difference with its verdict and explanation.

    Attributes:
        type: Confluent's difference type.
        path: JSON pointer in the schema (``#/properties/foo``).
        compatible: the policy allows it.
        message: a plain-language explanation.
        direction: "backward" (old data, new schema) or "forward" (new data, old schema).
        fixes: ways to make it safe (empty when compatible).
    """

    type: str
    path: str
    compatible: bool
    message: str
    direction: str = "backward"
    fixes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "path": self.path,
                               "compatible": self.compatible, "message": self.message,
                               "direction": self.direction}
        if self.fixes:
            out["fixes"] = list(self.fixes)
        return out


@dataclass(frozen=True)
class CompatResult:
    """The verdict on one pair of schemas.

    Attributes:
        compatible: every checked direction has only allowed differences.
        mode: the compatibility level checked.
        policy: "strict" or "lenient".
        changes: every difference, backward direction first.
        renames: removed/added property pairs of the same shape.
        witness: a payload that breaks the reader, for an incompatible verdict (or ``None``).
    """

    compatible: bool
    mode: str
    policy: str
    changes: list[Change] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    witness: Witness | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form documented for ``harness compat``."""
        return {
            "compatible": self.compatible,
            "mode": self.mode,
            "policy": self.policy,
            "changes": [c.to_dict() for c in self.changes],
            "renames": [r.to_dict() for r in self.renames],
            "witness": self.witness.to_dict() if self.witness else None,
        }


def check_compatibility(old: Any, new: Any, mode: str = "BACKWARD", policy: str = "strict", *,
                        old_uri: str = "urn:harness:old", new_uri: str = "urn:harness:new",
                        fetch: Callable[[str], Any] | None = None, old_where: str = "old",
                        new_where: str = "new", witness: bool = True) -> CompatResult:
    """Check whether ``new`` may replace ``old`` under a compatibility mode and policy.

    Args:
        old: the old (registered) schema, parsed JSON.
        new: the new (proposed) schema, parsed JSON.
        mode: BACKWARD, FORWARD, FULL, their _TRANSITIVE forms (same as plain for a pair),
            or NONE.
        policy: "strict" (Confluent's default) or "lenient".
        old_uri: base URI of the old schema (a ``file://`` URI to follow relative ``$ref``).
        new_uri: base URI of the new schema.
        fetch: reads referenced documents by URI (``None``: local references only).
        old_where: name of the old schema in error messages.
        new_where: name of the new schema in error messages.
        witness: search a breaking payload when incompatible.

    Raises:
        SchemaError: a schema is not a schema or has an unresolvable ``$ref``.
        ValueError: unknown mode or policy.
    """
    mode = normalise_mode(mode)
    allowed_set(policy)
    old_graph = load_graph(old, uri=_uri(old_uri), where=old_where, fetch=fetch)
    new_graph = load_graph(new, uri=_uri(new_uri), where=new_where, fetch=fetch)
    return check_graphs(old_graph, new_graph, mode, policy, witness=witness)


def _uri(uri: str) -> str:
    # urljoin cannot resolve "#/..." against an opaque "urn:" base; use a file-like base.
    return uri if "://" in uri else "file:///" + uri.replace(":", "/") + ".json"


def check_graphs(old: SchemaGraph, new: SchemaGraph, mode: str, policy: str, *,
                 witness: bool = True) -> CompatResult:
    """:func:`check_compatibility` on already loaded graphs."""
    mode = normalise_mode(mode)
    policy = policy.lower()
    results = pair_directions(old, new, mode, policy)
    changes = [Change(d.type, d.path, d.type in allowed_set(policy),
                      explain(d, direction=r.direction, compatible=d.type in allowed_set(policy)),
                      r.direction, () if d.type in allowed_set(policy) else tuple(fixes(d)))
               for r in results for d in r.differences]
    backward = next((r.differences for r in results if r.direction == "backward"), None)
    if backward is None:
        backward = compare(old, new, STRICT)
    renames = find_renames(backward, old, new)
    changes = _mark_renames(changes, renames)
    compatible = all(r.compatible for r in results)
    found = _witness(results) if witness and not compatible else None
    return CompatResult(compatible, mode, policy, changes, renames, found)


def _mark_renames(changes: list[Change], renames: list[Rename]) -> list[Change]:
    if not renames:
        return changes
    notes: dict[str, str] = {}
    for rename in renames:
        prefix = "#" if rename.path == "#/" else rename.path
        for name in (rename.old_name, rename.new_name):
            notes[f"{prefix}/properties/{name}"] = rename.message
    out = []
    for change in changes:
        note = notes.get(change.path)
        if note and "PROPERTY" in change.type:
            extra = ("keep the old field and the new one side by side for a version",)
            change = Change(change.type, change.path, change.compatible,
                            f"{note}: {change.message}", change.direction,
                            change.fixes and (*extra, *change.fixes))
        out.append(change)
    return out


def _witness(results: list[Direction]) -> Witness | None:
    for result in results:
        if result.compatible:
            continue
        names = ("old", "new") if result.direction == "backward" else ("new", "old")
        try:
            found = find_witness(result.writer, result.reader, writer_name=names[0],
                                 reader_name=names[1])
        except Exception:  # a validator that cannot run (e.g. an ECMA-only regex): no witness
            found = None
        if found is not None:
            return found
    return None


def differences(old: SchemaGraph, new: SchemaGraph, policy: str = "strict") -> list[Difference]:
    """Confluent's differences from ``old`` to ``new`` (``SchemaDiff.compare``)."""
    return compare(old, new, allowed_set(policy))
