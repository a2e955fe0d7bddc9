"""``$ref`` resolution: local pointers, ``$id``/``$anchor`` names and other registry files.

A :class:`RefResolver` holds every document it has seen, indexed by URI, ``$id`` and anchor.
Files referred to by a relative ``$ref`` are read through a ``fetch`` callable (by default,
files on disk under an allowed root), so ``"../money/v1.json#/definitions/amount"`` works
inside a file registry. Anything it cannot resolve raises :class:`~harness.errors.SchemaError`
naming the document and the JSON pointer of the ``$ref``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlparse

from harness.errors import SchemaError

__all__ = ["RefResolver", "draft_of", "file_fetcher", "iter_refs", "pointer_join"]

#: Keywords whose values are data, not schemas: never searched for ``$id`` or ``$ref``.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})

_ID_KEYWORDS = ("$id", "id", "$anchor", "$dynamicAnchor")

Fetch = Callable[[str], Any]


def draft_of(schema: Any) -> int:
    """The draft number of a schema: 4, 6, 7, 2019 or 2020 (7 when ``$schema`` is absent)."""
    uri = schema.get("$schema", "") if isinstance(schema, dict) else ""
    if not isinstance(uri, str):
        return 7
    for marker, draft in (("draft-04", 4), ("draft-06", 6), ("draft-07", 7),
                          ("2019-09", 2019), ("2020-12", 2020)):
        if marker in uri:
            return draft
    return 7


def pointer_join(pointer: str, *parts: object) -> str:
    """Append reference tokens to a JSON pointer (``#`` is the root)."""
    out = pointer
    for part in parts:
        out += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return out


def iter_refs(schema: Any, pointer: str = "#") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` string in a schema document, with the JSON pointer where it sits."""
    stack: list[tuple[Any, tuple[object, ...]]] = [(schema, ())]
    found: list[tuple[tuple[object, ...], str]] = []
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                found.append(((*path, "$ref"), ref))
            for key, value in node.items():
                if key not in _DATA_KEYWORDS and isinstance(value, dict | list):
                    stack.append((value, (*path, key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append((value, (*path, index)))
    for path, ref in sorted(found, key=lambda item: [str(p) for p in item[0]]):
        yield ref, pointer_join(pointer, *path)


def file_fetcher(root: Path | None = None) -> Fetch:
    """A fetch callable reading ``file://`` URIs (restricted to ``root`` when given)."""
    allowed = root.resolve() if root is not None else None

    def fetch(uri: str) -> Any:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise LookupError(f"only local files can be referenced, not {uri}")
        path = Path(unquote(parsed.path))
        if allowed is not None and allowed not in path.resolve().parents:
            raise LookupError(f"{path} is outside the registry {allowed}")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LookupError(f"no such file {path}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LookupError(f"{path} is not JSON ({exc})") from None

    return fetch


class RefResolver:
    """Resolve ``$ref`` strings against a set of documents.

    Args:
        fetch: reads a document by absolute URI (raising ``LookupError`` when it cannot);
            ``None`` allows only documents added with :meth:`add_document`.
    """

    def __init__(self, fetch: Fetch | None = None) -> None:
        self._fetch = fetch
        self._resources: dict[str, Any] = {}
        self._anchors: dict[str, tuple[Any, str]] = {}

    def add_document(self, uri: str, contents: Any, *, text: str | None = None) -> None:
        """Register a document at ``uri`` (and every ``$id``/anchor inside it).

        Args:
            uri: the document's URI.
            contents: the parsed document.
            text: its JSON text, if known: skips the ``$id`` walk when there is none.
        """
        draft = draft_of(contents)
        self._resources.setdefault(uri, contents)
        if text is None or any(f'"{k}"' in text for k in _ID_KEYWORDS):
            self._index(contents, uri, draft)

    def documents(self) -> dict[str, Any]:
        """Every known document and ``$id`` resource, by URI."""
        return dict(self._resources)

    def _index(self, node: Any, base: str, draft: int) -> None:
        if isinstance(node, dict):
            base = self.base_of(node, base, draft)
            if draft >= 2019 and isinstance(node.get("$anchor"), str):
                self._anchors[f"{base}#{node['$anchor']}"] = (node, base)
            if draft >= 2020 and isinstance(node.get("$dynamicAnchor"), str):
                self._anchors.setdefault(f"{base}#{node['$dynamicAnchor']}", (node, base))
            for key, value in node.items():
                if key not in _DATA_KEYWORDS:
                    self._index(value, base, draft)
        elif isinstance(node, list):
            for value in node:
                self._index(value, base, draft)

    def base_of(self, node: dict[str, Any], base: str, draft: int) -> str:
        """The base URI inside ``node`` (changed by its ``$id``/``id``), indexing it."""
        key = "id" if draft == 4 else "$id"
        ident = node.get(key)
        if not isinstance(ident, str):
            return base
        full = urljoin(base, ident)
        url, fragment = urldefrag(full)
        if fragment and not fragment.startswith("/"):
            self._anchors[full] = (node, url or base)
            if not url or url == urldefrag(base)[0]:
                return base
        if url:
            self._resources.setdefault(url, node)
            return url
        return base

    def resolve(self, ref: str, base: str, *, where: str) -> tuple[Any, str]:
        """The schema a ``$ref`` points to and its base URI.

        Args:
            ref: the ``$ref`` value.
            base: the base URI in force where the ``$ref`` sits.
            where: the place to name in errors (``file: #/pointer``).

        Raises:
            SchemaError: the target document, anchor or pointer does not exist.
        """
        full = urljoin(base, ref)
        url, fragment = urldefrag(full)
        if fragment and not fragment.startswith("/"):
            found = self._anchors.get(f"{url}#{fragment}")
            if found is None:
                self._document(url, ref, where)
                found = self._anchors.get(f"{url}#{fragment}")
            if found is None:
                raise SchemaError(f"unresolvable $ref {ref!r}: no anchor {fragment!r}",
                                  where=where)
            return found
        document = self._document(url, ref, where)
        target, target_base = document, url
        for token in [t for t in fragment.split("/")[1:]] if fragment else []:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise SchemaError(f"unresolvable $ref {ref!r}: nothing at #{fragment}",
                                  where=where)
            if isinstance(target, dict):
                target_base = self.base_of(target, target_base, 7)
        return target, target_base

    def _document(self, url: str, ref: str, where: str) -> Any:
        document = self._resources.get(url)
        if document is not None:
            return document
        if self._fetch is None:
            raise SchemaError(f"unresolvable $ref {ref!r}: {url} is not a known document",
                              where=where)
        try:
            document = self._fetch(url)
        except LookupError as exc:
            raise SchemaError(f"unresolvable $ref {ref!r}: {exc}", where=where) from None
        self.add_document(url, document)
        return document
