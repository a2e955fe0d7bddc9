"""Rename detection: a removed property paired with an added one of the same shape.

Confluent has no "renamed" difference: ``risk_level -> risk_score`` shows as one removal and
one addition. Here a removal and an addition under the same object are paired when each schema
reads the other's data with no difference beyond metadata (title, description, ``$id``,
default); with several candidates, the most similar names pair first.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from harness.contracts.compat.diff import compare_nodes
from harness.contracts.compat.differences import Difference
from harness.contracts.compat.model import SchemaGraph

__all__ = ["Rename", "find_renames"]

_METADATA = frozenset({"ID_CHANGED", "TITLE_CHANGED", "DESCRIPTION_CHANGED", "DEFAULT_CHANGED"})


@dataclass(frozen=True)
class Rename:
    """A property that was renamed.

    Attributes:
        path: JSON pointer of the object schema holding the property (``#/properties/order``).
        old_name: the name in the old schema.
        new_name: the name in the new schema.
    """

    path: str
    old_name: str
    new_name: str

    @property
    def message(self) -> str:
        where = "" if self.path == "#/" else f" in {self.path}"
        return f"renamed {self.old_name} -> {self.new_name}{where}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "from": self.old_name, "to": self.new_name,
                "message": self.message}


def _split(path: str) -> tuple[str, str] | None:
    head, sep, name = path.rpartition("/properties/")
    if not sep or "/" in name:
        return None
    return (head or "#") if head != "#" else "#/", name


def _is_removal(kind: str) -> bool:
    return "PROPERTY" in kind and "REMOVED" in kind and kind != "REQUIRED_ATTRIBUTE_REMOVED"


def _is_addition(kind: str) -> bool:
    return "PROPERTY" in kind and "ADDED" in kind and "COVERED" not in kind


def find_renames(differences: list[Difference], old: SchemaGraph,
                 new: SchemaGraph) -> list[Rename]:
    """Pair removed and added properties of the same shape (``differences`` from old to new)."""
    removed: dict[str, dict[str, Difference]] = {}
    added: dict[str, dict[str, Difference]] = {}
    for diff in differences:
        if diff.node is None:
            continue
        split = _split(diff.path)
        if split is None:
            continue
        parent, name = split
        if _is_removal(diff.type):
            removed.setdefault(parent, {})[name] = diff
        elif _is_addition(diff.type):
            added.setdefault(parent, {})[name] = diff
    renames: list[Rename] = []
    for parent, gone in removed.items():
        fresh = dict(added.get(parent, {}))
        candidates = []
        for old_name, old_diff in gone.items():
            for new_name, new_diff in fresh.items():
                if _same_shape(old, new, old_diff, new_diff):
                    ratio = difflib.SequenceMatcher(None, old_name, new_name).ratio()
                    candidates.append((-ratio, old_name, new_name))
        used_old: set[str] = set()
        used_new: set[str] = set()
        for _, old_name, new_name in sorted(candidates):
            if old_name not in used_old and new_name not in used_new:
                used_old.add(old_name)
                used_new.add(new_name)
                renames.append(Rename(parent, old_name, new_name))
    return renames


def _same_shape(old: SchemaGraph, new: SchemaGraph, removed: Difference,
                added: Difference) -> bool:
    for writer, reader, a, b in ((old, new, removed.node, added.node),
                                 (new, old, added.node, removed.node)):
        diffs = compare_nodes(writer, reader, a, b, _METADATA)
        if any(d.type not in _METADATA for d in diffs):
            return False
    return True
