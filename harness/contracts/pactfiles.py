"""Pact files: load them with errors that name the file and place, merge them deterministically.

A pact file here is a Pact V4 JSON document holding ``Asynchronous/Messages`` interactions, one
file per (consumer, provider) pair, named ``<consumer>-<provider>.json``.

pact-python's own ``write_file(overwrite=False)`` merges silently and lets the last writer win
when two tests declare the same description with different bodies (pact-notes gotcha 2), so the
harness merges pact documents itself: :func:`merge_pacts` refuses such a conflict, naming both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = [
    "MESSAGE_TYPE",
    "PactFile",
    "interaction_key",
    "load_pact",
    "load_pacts",
    "merge_pacts",
    "pact_filename",
    "write_pact",
]

#: The V4 interaction type of an asynchronous message.
MESSAGE_TYPE = "Asynchronous/Messages"


@dataclass(frozen=True)
class PactFile:
    """One loaded pact.

    Attributes:
        path: where it was read from.
        consumer: the consumer's name.
        provider: the provider's name.
        interactions: the raw interaction objects.
        data: the whole document.
    """

    path: Path
    consumer: str
    provider: str
    interactions: list[dict[str, Any]]
    data: dict[str, Any]

    def states(self) -> list[str]:
        """Every provider state name the pact's interactions use (in order, unique)."""
        seen: list[str] = []
        for inter in self.interactions:
            for state in inter.get("providerStates") or []:
                name = state.get("name") if isinstance(state, dict) else None
                if name and name not in seen:
                    seen.append(name)
        return seen


def pact_filename(consumer: str, provider: str) -> str:
    """``<consumer>-<provider>.json``, the name pact-python writes."""
    return f"{consumer}-{provider}.json"


def _name(data: dict[str, Any], role: str, path: Path) -> str:
    node = data.get(role)
    if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"]:
        raise InputError(f"missing {role}.name (not a pact file?)", where=f"{path}: {role}")
    return node["name"]


def load_pact(path: str | Path) -> PactFile:
    """Load one pact file.

    Raises:
        InputError: naming the file and the JSON line/column, or the missing field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError("no such pact file", where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 at byte {exc.start}", where=str(path)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         where=str(path)) from exc
    except RecursionError:
        raise InputError("nested too deeply", where=str(path)) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", where=str(path))
    consumer, provider = _name(data, "consumer", path), _name(data, "provider", path)
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        raise InputError("missing the interactions list", where=f"{path}: interactions")
    for i, inter in enumerate(interactions):
        where = f"{path}: interactions[{i}]"
        if not isinstance(inter, dict) or not isinstance(inter.get("description"), str):
            raise InputError("an interaction needs a description", where=where)
        if inter.get("type", MESSAGE_TYPE) != MESSAGE_TYPE:
            raise InputError(f"type {inter.get('type')!r} is not {MESSAGE_TYPE!r} (the harness "
                             "verifies message pacts)", where=where)
        states = inter.get("providerStates", [])
        if not isinstance(states, list) or not all(
                isinstance(s, dict) and isinstance(s.get("name"), str) for s in states):
            raise InputError("providerStates must be a list of {name, params}",
                             where=f"{where}.providerStates")
    return PactFile(path, consumer, provider, interactions, data)


def load_pacts(source: str | Path, *, provider: str | None = None) -> list[PactFile]:
    """Load a pact file or every ``*.json`` in a folder, optionally only those naming
    ``provider``.

    Raises:
        InputError: the folder does not exist, or a file is malformed.
    """
    source = Path(source)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(source.glob("*.json"))
    else:
        raise InputError("no such pact file or folder", where=str(source))
    pacts = [load_pact(f) for f in files]
    return [p for p in pacts if provider is None or p.provider == provider]


def interaction_key(inter: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(description, provider state names): the identity of an interaction in a pact."""
    states = tuple(s.get("name", "") for s in inter.get("providerStates") or [])
    return inter.get("description", ""), states


def merge_pacts(documents: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Merge pact documents per (consumer, provider), interactions sorted by description.

    Raises:
        InputError: the same interaction (description and states) was declared twice with
            different contents.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in documents:
        pair = (doc["consumer"]["name"], doc["provider"]["name"])
        target = merged.setdefault(pair, {**doc, "interactions": []})
        for inter in doc.get("interactions", []):
            key = interaction_key(inter)
            clash = next((i for i in target["interactions"] if interaction_key(i) == key), None)
            if clash is None:
                target["interactions"].append(inter)
            elif _comparable(clash) != _comparable(inter):
                raise InputError(f"interaction {key[0]!r} (states {list(key[1])}) is declared "
                                 "twice with different contents",
                                 where=f"pact {pair[0]}-{pair[1]}")
    for doc in merged.values():
        doc["interactions"].sort(key=lambda i: (i.get("description", ""),
                                                interaction_key(i)[1]))
    return merged


def _comparable(inter: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in inter.items() if k not in ("key", "pending")},
                      sort_keys=True)


def write_pact(doc: dict[str, Any], folder: str | Path) -> Path:
    """Write one merged pact document as ``<consumer>-<provider>.json`` (stable formatting)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / pact_filename(doc["consumer"]["name"], doc["provider"]["name"])
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
