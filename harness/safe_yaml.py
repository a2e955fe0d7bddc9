"""Guards run before a YAML file is loaded: what would hang, explode or recurse is refused first.

PyYAML's safe loader already refuses tags that would run code; it does not bound the rest:
flow collections nested tens of thousands deep take minutes to scan, block nesting ends in a
RecursionError, aliases expand a few hundred bytes into billions of nodes ("billion laughs"), and
an alias inside its own anchor makes a structure that contains itself. :func:`check_yaml_text`
refuses each with one :class:`~harness.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import re

import yaml

from harness.errors import InputError

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_ITEMS", "MAX_YAML_NODES",
           "check_yaml_text", "decode_text"]

MAX_YAML_BYTES = 512 * 1024  # configuration files, not data (PyYAML reads ~1 MB/s)
MAX_YAML_DEPTH = 200
MAX_YAML_NODES = 1_000_000
MAX_YAML_ITEMS = 20_000

_BRACKETS = re.compile(r"""[\[\]{}]|"(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|#[^\n]*""")


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text of a file's bytes; invalid bytes are one error naming the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not UTF-8 (byte {exc.start})", where=f"{where}:{line}") from None


def _flow_depth(text: str, where: str) -> None:
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels",
                                 where=f"{where}:{line}")
        elif c in "]}":
            depth = max(0, depth - 1)


def _unique_keys(node: yaml.MappingNode, where: str) -> None:
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if key.value in seen:
                raise InputError(f"key {key.value[:80]!r} appears twice in one mapping",
                                 where=f"{where}:{key.start_mark.line + 1}")
            seen.add(key.value)


def _graph(node: yaml.Node, where: str) -> None:
    """Refuse a node graph that contains itself or expands past MAX_YAML_NODES (iteratively)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool, int]] = [(node, False, 1)]
    while stack:
        cur, done, depth = stack.pop()
        key = id(cur)
        children: list[yaml.Node] = []
        if isinstance(cur, yaml.SequenceNode):
            children = list(cur.value)
        elif isinstance(cur, yaml.MappingNode):
            children = [n for pair in cur.value for n in pair]
            if not done:
                _unique_keys(cur, where)
        if done:
            on_path.discard(key)
            sizes[key] = min(MAX_YAML_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            if sizes[key] > MAX_YAML_NODES:
                raise InputError(f"aliases expand to more than {MAX_YAML_NODES} values",
                                 where=f"{where}:{cur.start_mark.line + 1}")
            continue
        if key in sizes:
            continue
        if depth > MAX_YAML_DEPTH:
            raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels",
                             where=f"{where}:{cur.start_mark.line + 1}")
        on_path.add(key)
        stack.append((cur, True, depth))
        for child in children:
            if id(child) in on_path:
                raise InputError("an alias refers to the collection it is part of",
                                 where=f"{where}:{child.start_mark.line + 1}")
            if id(child) not in sizes:
                stack.append((child, False, depth + 1))


def check_yaml_text(text: str, where: str) -> None:
    """Refuse YAML that is too big, too deep, self-containing or alias-bombed.

    Syntax errors are left to the loader that follows (it reports them with its own line).

    Raises:
        InputError: naming ``where`` and the line.
    """
    if len(text) > MAX_YAML_BYTES:
        raise InputError(f"larger than {MAX_YAML_BYTES // 1024} KiB", where=where)
    items = text.count(",") + text.count("\n")
    if items > MAX_YAML_ITEMS:  # PyYAML would take minutes; no configuration file is that long
        raise InputError(f"more than {MAX_YAML_ITEMS} lines and list items", where=where)
    _flow_depth(text, where)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # the loader reports it
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", where=where) from None
    if node is not None:
        _graph(node, where)
