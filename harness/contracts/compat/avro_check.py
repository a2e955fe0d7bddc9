"""Avro compatibility on Apache Avro's own checker (``avro.compatibility``), plus modes,
transitivity (via the registry), paths, renames and a witness decoded with fastavro.

Verdicts are ``ReaderWriterCompatibilityChecker``'s (reader = new for BACKWARD, reader = old for
FORWARD, both for FULL), as Confluent and Apicurio apply Avro's schema-resolution rules.
Differences are the checker's incompatibility types, localised by walking record fields.
"""

from __future__ import annotations

import io
import json
from typing import Any

import avro.errors
import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from harness.contracts.compat.check import Change, CompatResult
from harness.contracts.compat.levels import directions, normalise_mode
from harness.contracts.compat.renames import Rename, _similar
from harness.contracts.compat.witness import Witness
from harness.errors import SchemaError

__all__ = ["AVRO_TYPES", "AvroSchema", "avro_issues", "check_avro", "load_avro"]

#: The checker's incompatibility types, upper-cased.
AVRO_TYPES = ("NAME_MISMATCH", "FIXED_SIZE_MISMATCH", "MISSING_ENUM_SYMBOLS",
              "READER_FIELD_MISSING_DEFAULT_VALUE", "TYPE_MISMATCH", "MISSING_UNION_BRANCH")

_FIXES = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": ("give the new field a default",
                                           "for a rename, add the old name to the field's "
                                           "\"aliases\""),
    "MISSING_ENUM_SYMBOLS": ("keep every old symbol", "give the reader's enum a \"default\" "
                             "symbol"),
    "TYPE_MISMATCH": ("keep the old type or use a promotion Avro allows (int->long->float->"
                      "double, string<->bytes)", "add a new field with a default instead"),
    "NAME_MISMATCH": ("keep the old name, or add it to the named type's \"aliases\"",),
    "MISSING_UNION_BRANCH": ("keep every branch the writer may use",),
    "FIXED_SIZE_MISMATCH": ("keep the fixed size",),
}


class AvroSchema:
    """A parsed Avro schema: the JSON form, avro's parsed form, fastavro's parsed form."""

    def __init__(self, value: Any, *, where: str = "schema") -> None:
        self.where = where
        self.json = value
        try:
            self.parsed = avro.schema.parse(json.dumps(value))
            self.fast = fastavro.parse_schema(json.loads(json.dumps(value)),
                                              _write_hint=False, _force=True)
        except (avro.errors.AvroException, fastavro.schema.SchemaParseException, TypeError,
                ValueError, KeyError) as exc:
            raise SchemaError(f"not an Avro schema: {exc}", where=where) from None


def load_avro(value: Any, *, where: str = "schema") -> AvroSchema:
    """Parse an Avro schema (parsed JSON); a bad schema is one SchemaError line."""
    return AvroSchema(value, where=where)


def _compatible(reader: avro.schema.Schema, writer: avro.schema.Schema) -> Any:
    return ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)


def avro_issues(reader: avro.schema.Schema, writer: avro.schema.Schema,
                path: str = "#") -> list[tuple[str, str, str]]:
    """(TYPE, path, message) for every incompatibility, localised to record fields."""
    result = _compatible(reader, writer)
    if result.compatibility == SchemaCompatibilityType.compatible:
        return []
    if isinstance(reader, avro.schema.RecordSchema) and \
            isinstance(writer, avro.schema.RecordSchema):
        found: list[tuple[str, str, str]] = []
        if reader.name != writer.name and writer.fullname not in _aliases(reader):
            found.append(("NAME_MISMATCH", path,
                          f"expected {writer.name}, found {reader.name}"))
        by_name = {f.name: f for f in writer.fields}
        for index, field in enumerate(reader.fields):
            where = f"{path}/fields/{index}"
            source = by_name.get(field.name) or next(
                (by_name[a] for a in field.props.get("aliases") or [] if a in by_name), None)
            if source is None:
                if not field.has_default:
                    found.append(("READER_FIELD_MISSING_DEFAULT_VALUE", where,
                                  f"field {field.name!r} has no default and the writer lacks "
                                  "it"))
                continue
            found.extend(avro_issues(field.type, source.type, f"{where}/type"))
        if found:
            return found
    kinds = sorted(i.name.upper() for i in result.incompatibilities)
    message = "; ".join(sorted(str(m) for m in result.messages))
    return [(kind, path, message) for kind in kinds]


def _aliases(schema: avro.schema.NamedSchema) -> set[str]:
    aliases: Any = schema.props.get("aliases") or []
    return {str(a) for a in aliases}


def check_avro(old: AvroSchema, new: AvroSchema, mode: str = "BACKWARD", policy: str = "strict",
               *, witness: bool = True) -> CompatResult:
    """Check whether ``new`` may replace ``old`` under a mode (policy is ignored, as in
    Confluent).

    Raises:
        ValueError: unknown mode, or a Protobuf-only policy.
    """
    mode = normalise_mode(mode)
    if policy.lower() not in ("strict", "lenient"):
        raise ValueError(f"policy {policy!r} is not strict or lenient (wire and wire_json are "
                         "buf's Protobuf rule sets)")
    changes: list[Change] = []
    broken: list[tuple[str, AvroSchema, AvroSchema, str]] = []
    for direction in directions(mode):
        writer, reader = (old, new) if direction == "backward" else (new, old)
        issues = avro_issues(reader.parsed, writer.parsed)
        who = "old" if direction == "backward" else "new"
        for kind, path, message in issues:
            changes.append(Change(kind, path, False, f"{message} ({who} data cannot be read)",
                                  direction, (*_FIXES.get(kind, ()), "bump the major version "
                                              "(a new subject) and migrate")))
        if issues:
            broken.append((direction, writer, reader, issues[0][1]))
    renames = avro_renames(old, new)
    found = None
    if witness:
        for direction, writer, reader, path in broken:
            names = ("old", "new") if direction == "backward" else ("new", "old")
            found = avro_witness(writer, reader, names, path)
            if found:
                break
    return CompatResult(not broken, mode, policy, changes, renames, found)


def avro_renames(old: AvroSchema, new: AvroSchema) -> list[Rename]:
    """Fields renamed with an alias, and a lone removed/added pair with similar names."""
    out: list[Rename] = []
    _renames(old.json, new.json, "#/", out)
    return out


def _renames(old: Any, new: Any, path: str, out: list[Rename]) -> None:
    if not (isinstance(old, dict) and isinstance(new, dict) and old.get("type") == "record"
            and new.get("type") == "record"):
        return
    before = {f["name"]: f for f in old.get("fields", []) if isinstance(f, dict)}
    gone = set(before)
    fresh = []
    for index, field in enumerate(f for f in new.get("fields", []) if isinstance(f, dict)):
        name = str(field.get("name"))
        if name in before:
            gone.discard(name)
            inner = f"{path.rstrip('/')}/fields/{index}/type"
            _renames(before[name].get("type"), field.get("type"), inner, out)
            continue
        alias = next((a for a in field.get("aliases", []) if a in before), None)
        if alias:
            gone.discard(alias)
            out.append(Rename(path, alias, name, before[alias].get("type") == field.get("type")))
        else:
            fresh.append(name)
    if len(gone) == 1 and len(fresh) == 1 and _similar(next(iter(gone)), fresh[0]):
        out.append(Rename(path, next(iter(gone)), fresh[0], same_shape=False))


def avro_witness(writer: AvroSchema, reader: AvroSchema, names: tuple[str, str],
                 path: str = "#") -> Witness | None:
    """A datum written with the writer's schema that fastavro cannot read with the reader's."""
    from harness.fuzz.avro_values import candidates

    for datum in candidates(writer.json, limit=200):
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, writer.fast, datum)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        data = buf.getvalue()
        try:
            fastavro.schemaless_reader(io.BytesIO(data), writer.fast, reader.fast)
        except Exception as exc:  # fastavro raises SchemaResolutionError, EOFError, ...
            payload = {"encoding": "avro", "hex": data.hex(), "written": _jsonable(datum)}
            error = str(exc).split(" is not {", 1)[0][:300]
            return Witness(payload, names[0], names[1], f"{type(exc).__name__}: {error}", path)
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
