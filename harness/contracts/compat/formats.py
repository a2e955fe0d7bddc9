"""One front door for the three schema formats: JSON Schema (.json), Protobuf (.proto) and
Avro (.avsc). Picks the format from the file suffix (or a JSON-lines record), loads, checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.contracts.compat.avro_check import check_avro, load_avro
from harness.contracts.compat.check import CompatResult, check_compatibility
from harness.contracts.compat.levels import normalise_mode, previous_versions
from harness.contracts.compat.proto_check import check_proto
from harness.contracts.compat.proto_load import ProtoSchema, load_proto, load_proto_file
from harness.errors import InputError, SchemaError

if TYPE_CHECKING:
    from harness.contracts.compat.registry_check import SubjectVerdict, Violation
    from harness.contracts.registry import Subject

__all__ = ["FORMATS", "Loaded", "check_files", "check_foreign_subject", "check_loaded",
           "check_record", "format_of", "load_file", "normalise_record"]

FORMATS = ("json", "protobuf", "avro")
_SUFFIXES = {".proto": "protobuf", ".avsc": "avro", ".json": "json"}


def format_of(path: str | Path) -> str:
    """The format a file name says (.proto, .avsc; anything else is JSON Schema)."""
    return _SUFFIXES.get(Path(path).suffix.lower(), "json")


@dataclass(frozen=True)
class Loaded:
    """A loaded schema of any format."""

    format: str
    schema: Any  # ProtoSchema, AvroSchema or parsed JSON Schema
    where: str


def load_file(path: str | Path, *, root: Path | None = None) -> Loaded:
    """Load a .proto (compiled with its imports, resolved from ``root``) or .avsc file."""
    from harness.contracts.registry import load_json_file

    path = Path(path)
    kind = format_of(path)
    if path.is_dir():
        raise InputError("is a folder, not a schema file", where=str(path))
    if kind == "protobuf":
        return Loaded(kind, load_proto_file(path, root=root), str(path))
    value = load_json_file(path)
    if kind == "avro":
        return Loaded(kind, load_avro(value, where=str(path)), str(path))
    return Loaded(kind, value, str(path))


def check_loaded(old: Loaded, new: Loaded, mode: str = "BACKWARD", policy: str = "strict", *,
                 witness: bool = True) -> CompatResult:
    """Check two loaded Protobuf or Avro schemas (same format)."""
    if old.format != new.format:
        raise InputError(f"cannot compare {old.format} with {new.format}",
                         where=f"{old.where} / {new.where}")
    if old.format == "protobuf":
        return check_proto(old.schema, new.schema, mode, policy, witness=witness)
    if old.format == "avro":
        return check_avro(old.schema, new.schema, mode, policy, witness=witness)
    return check_compatibility(old.schema, new.schema, mode, policy, old_where=old.where,
                               new_where=new.where, witness=witness)


def check_files(old: str, new: str, mode: str, policy: str, *,
                witness: bool = True) -> CompatResult:
    """Check two .proto or .avsc files (imports of a .proto resolve from its folder's parent
    when it sits in a registry: ``contracts/<type>/vN.proto``)."""
    return check_loaded(load_file(old, root=_import_root(old)),
                        load_file(new, root=_import_root(new)), mode, policy, witness=witness)


def _import_root(path: str) -> Path:
    p = Path(path).resolve()
    return p.parent.parent if p.stem[:1] == "v" and p.stem[1:].isdigit() else p.parent


def _record_format(record: dict[str, Any]) -> str:
    kind = record.get("format")
    if kind is not None:
        if kind not in FORMATS:
            raise InputError(f'"format" must be one of {", ".join(FORMATS)}', where="format")
        return str(kind)
    if isinstance(record["old"], str) and isinstance(record["new"], str):
        return "protobuf"
    if all(_looks_avro(record[k]) for k in ("old", "new")):
        return "avro"
    return "json"


def _looks_avro(value: Any) -> bool:
    if isinstance(value, list):
        return True
    return isinstance(value, dict) and (
        value.get("type") in ("record", "enum", "fixed", "error") and "name" in value)


def _proto_side(record: dict[str, Any], side: str, where: str) -> ProtoSchema:
    deps = record.get(f"{side}_dependencies") or {}
    if isinstance(deps, list):  # Confluent's form: [{"name", "dependency"}]
        deps = {d["name"]: d["dependency"] for d in deps if "dependency" in d}
    refs = record.get(f"{side}_references") or []
    if isinstance(refs, dict):  # {import name: {"subject", "version"}}
        refs = [{"name": name, **value} for name, value in refs.items()]
    references = {r["name"]: (r.get("subject", r["name"]), int(r.get("version", 1)))
                  for r in refs}
    return load_proto(record[side], dependencies=deps, references=references,
                      where=f"{where}: {side}")


_CONFLUENT_KEYS = {"original_schema": "old", "update_schema": "new",
                   "original_dependencies": "old_dependencies",
                   "update_dependencies": "new_dependencies",
                   "original_references": "old_references",
                   "update_references": "new_references"}


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """Accept Confluent's corpus keys (``original_schema``, ``update_dependencies``...) as
    aliases of ``old``, ``new_dependencies``..."""
    out = dict(record)
    for theirs, ours in _CONFLUENT_KEYS.items():
        if theirs in out and ours not in out:
            out[ours] = out.pop(theirs)
    return out


def check_record(record: dict[str, Any], where: str, mode: str, policy: str, *,
                 witness: bool = True) -> CompatResult:
    """Check one ``--jsonl`` record: ``{"old", "new", "format"?, "mode"?, "policy"?}``; a
    Protobuf record may carry ``old_dependencies``/``new_dependencies`` and references."""
    record = normalise_record(record)
    kind = _record_format(record)
    mode = record.get("mode", mode)
    policy = record.get("policy", policy)
    if kind == "protobuf":
        for side in ("old", "new"):
            if not isinstance(record[side], str):
                raise InputError(f'"{side}" must be .proto source text', where=where)
        return check_proto(_proto_side(record, "old", where), _proto_side(record, "new", where),
                           mode, policy, witness=witness)
    if kind == "avro":
        return check_avro(load_avro(record["old"], where=f"{where}: old"),
                          load_avro(record["new"], where=f"{where}: new"), mode, policy,
                          witness=witness)
    return check_compatibility(record["old"], record["new"], mode, policy,
                               old_where=f"{where}: old", new_where=f"{where}: new",
                               witness=witness)


def check_foreign_subject(subject: Subject, *, root: Path, witness: bool = True
                          ) -> SubjectVerdict:
    """A Protobuf or Avro subject's chain, each version as at publish time."""
    from harness.contracts.compat.registry_check import SubjectVerdict, Violation

    chain = subject.chain()
    kinds = {format_of(sv.path) for sv in chain}
    if len(kinds) > 1:
        raise SchemaError(f"mixes schema formats ({', '.join(sorted(kinds))})",
                          where=str(subject.path))
    loaded = [load_file(sv.path, root=root) for sv in chain]
    mode = normalise_mode(subject.compatibility)
    violations: list[Violation] = []
    pairs = 0
    for newest in range(1, len(loaded)):
        for earlier in previous_versions(mode, newest + 1):
            pairs += 1
            result = check_loaded(loaded[earlier], loaded[newest], mode, subject.policy,
                                  witness=witness)
            if not result.compatible:
                violations.append(Violation(chain[newest].version, chain[earlier].version,
                                            result))
                break
    return SubjectVerdict(subject.name, subject.compatibility, subject.policy,
                          [sv.version for sv in chain], violations, pairs)

