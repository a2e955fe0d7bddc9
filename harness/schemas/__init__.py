"""JSON Schemas of the harness's file formats, shipped in the package, and the check loaders use.

One schema per format (docs/formats/ has a reference page for each)::

    pipeline        pipeline.yaml
    experiment      chaos experiment files (chaos/*.yaml)
    incident        incident files (chaos/incidents/*.yaml)
    subject         contracts/TYPE/subject.yaml
    history-event   one line of history.jsonl
    results         results.json of a chaos run

Editors that speak the YAML language server validate a file as it is typed when its first line
names the schema (``harness schema pipeline --path`` prints the file's location)::

    # yaml-language-server: $schema=/path/to/site-packages/harness/schemas/pipeline.schema.json

:func:`check_document` validates a document read with
:func:`harness.pipeline.load_yaml_with_lines` (which keeps every key's line) and raises one
error naming ``file:line: field``; an unknown key lists the known ones.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from harness.errors import InputError, PipelineError

__all__ = ["FORMATS", "check_document", "load_schema", "schema_path", "strip_lines"]

#: format name -> what it describes
FORMATS = {
    "pipeline": "pipeline.yaml: agents, topology, budgets, fallbacks, stores, variants",
    "experiment": "chaos experiment: workload, fault schedule, checkers, seed",
    "incident": "incident: a pipeline with handlers replaced and a registry overlay",
    "subject": "contracts/TYPE/subject.yaml: compatibility mode and policy",
    "history-event": "one line of history.jsonl",
    "results": "results.json of a chaos run",
}

_HERE = Path(__file__).resolve().parent


def schema_path(name: str) -> Path:
    """Where the schema of a format is installed.

    Raises:
        InputError: an unknown format name (listing the known ones).
    """
    if name not in FORMATS:
        raise InputError(f"unknown format {name!r} (known: {', '.join(FORMATS)})",
                         where="schema")
    return _HERE / f"{name}.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a format (parsed once)."""
    data: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return data


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def strip_lines(node: Any) -> Any:
    """A copy without the loader's line keys (``__line__``, ``__lines__``)."""
    if isinstance(node, dict):
        return {k: strip_lines(v) for k, v in node.items()
                if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(node, list):
        return [strip_lines(v) for v in node]
    return node


def _flatten(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from _flatten(error.context or ())


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line(raw: Any, path: Iterable[Any], key: str | None = None) -> int | None:
    """The line of the place ``path`` (then ``key`` inside it) in a document with line keys."""
    line: int | None = raw.get("__line__") if isinstance(raw, dict) else None
    node = raw
    for part in path:
        if isinstance(node, dict):
            line = (node.get("__lines__") or {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    if key is not None and isinstance(node, dict):
        line = (node.get("__lines__") or {}).get(key, line)
    return line


def _where(path: Path | str, line: int | None, field: str) -> str:
    place = f"{path}:{line}" if line else str(path)
    return f"{place}: {field}" if field else place


def _unknown_keys(error: ValidationError) -> list[str]:
    known = error.schema.get("properties") or {} if isinstance(error.schema, dict) else {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(str(k) for k in instance if k not in known)


def _describe(error: ValidationError) -> str:
    """One short sentence for a schema error."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    kind = error.validator
    if "x-error" in schema:
        return f"{schema['x-error']}, got {shown}"
    if kind == "type":
        names = error.validator_value
        names = names if isinstance(names, list) else [names]
        return f"must be {' or '.join(_A.get(str(n), str(n)) for n in names)}, got {shown}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
              "exclusiveMaximum": "<"}[str(kind)]
        return f"must be {op} {error.validator_value}, got {shown}"
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        return f"must be one of {', '.join(map(str, options))}, got {shown}"
    if kind == "required":
        return "missing " + error.message.split(" is a required")[0]
    return error.message[:200]


_A = {"string": "a string", "integer": "an integer", "number": "a number",
      "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null"}


def check_document(raw: Any, fmt: str, path: Path | str, *,
                   error: type[InputError] = PipelineError) -> None:
    """Check a loaded document against its format's schema.

    Unknown keys are reported before anything else, with the known keys (and a close match).

    Args:
        raw: the document as :func:`harness.pipeline.load_yaml_with_lines` returns it (plain
            JSON data works too; lines are then not named).
        fmt: a name in :data:`FORMATS`.
        path: the file, for the message.
        error: the error class to raise.

    Raises:
        InputError: (``error``) one line ``file:line: field: problem``.
    """
    errors = list(_validator(fmt).iter_errors(strip_lines(raw)))
    if not errors:
        return
    for e in _flatten(errors):
        if e.validator == "additionalProperties" and e.validator_value is False:
            extra = _unknown_keys(e)
            if not extra:
                continue
            known = sorted((e.schema.get("properties") or {}) if isinstance(e.schema, dict)
                           else [])
            close = difflib.get_close_matches(extra[0], known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = (f"unknown field {extra[0]!r}{hint} (known: "
                       f"{', '.join(known) or 'none'})")
            where = _where(path, _line(raw, e.absolute_path, extra[0]),
                           _field([*e.absolute_path, extra[0]]))
            raise error(message, where=where)
    worst = best_match(errors)
    while worst.validator in ("oneOf", "anyOf") and worst.context:
        # follow the branch the value's shape chose; stop when no branch fits its shape
        here = list(worst.absolute_path)
        deeper = [c for c in worst.context if not (
            c.validator in ("type", "const", "enum") and list(c.absolute_path) == here)]
        if not deeper:
            break
        worst = best_match(deeper)
    where = _where(path, _line(raw, worst.absolute_path), _field(worst.absolute_path))
    raise error(_describe(worst), where=where)
