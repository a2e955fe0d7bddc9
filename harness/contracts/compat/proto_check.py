"""Protobuf compatibility: Confluent's verdicts (or buf's WIRE / WIRE_JSON), with renames,
explanations, fixes and a witness checked with the Protobuf runtime.

``check_proto(old, new, mode, policy)`` returns the same :class:`CompatResult` as JSON Schema.
Policies: "strict"/"lenient" (Confluent: both the same, it has no policy for Protobuf), "wire"
and "wire_json" (buf's rule sets).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from harness.contracts.compat.check import Change, CompatResult
from harness.contracts.compat.differences import Difference
from harness.contracts.compat.levels import directions, normalise_mode
from harness.contracts.compat.proto_buf import RULE_SETS, compare_buf
from harness.contracts.compat.proto_codec import decode, fill, message_class, to_dict
from harness.contracts.compat.proto_diff import COMPATIBLE, compare
from harness.contracts.compat.proto_load import ProtoMessage, ProtoSchema
from harness.contracts.compat.renames import Rename, _similar
from harness.contracts.compat.witness import Witness

__all__ = ["PROTO_POLICIES", "check_proto", "proto_differences"]

PROTO_POLICIES = ("strict", "lenient", *RULE_SETS)

_WHY = {
    "PACKAGE_CHANGED": "the package changed: every type's full name changes",
    "MESSAGE_REMOVED": "message {name} was removed: {writer} data of that type has no reader",
    "MESSAGE_ADDED": "message {name} was added",
    "MESSAGE_MOVED": "message {name} moved among its siblings (message indexes are per schema "
                     "id, so this is safe)",
    "ENUM_ADDED": "enum {name} was added", "ENUM_REMOVED": "enum {name} was removed",
    "ENUM_CONST_ADDED": "enum value {name} was added",
    "ENUM_CONST_REMOVED": "enum value {name} was removed",
    "ENUM_CONST_CHANGED": "enum value {name} was renamed (same number)",
    "FIELD_ADDED": "field {name} was added ({writer} data simply lacks it)",
    "FIELD_REMOVED": "field {name} was removed ({writer} data keeps it as an unknown field)",
    "FIELD_NAME_CHANGED": "field {name} was renamed (the wire format uses numbers; JSON breaks)",
    "FIELD_KIND_CHANGED": "field {name} changed kind (scalar, message or map): {writer} bytes "
                          "are misread",
    "FIELD_SCALAR_KIND_CHANGED": "field {name} changed to a scalar type with another wire "
                                 "encoding: {writer} values are misread or dropped",
    "FIELD_NAMED_TYPE_CHANGED": "field {name} now refers to another (or an incompatible) "
                                "message type",
    "FIELD_NUMERIC_LABEL_CHANGED": "field {name} changed between single and repeated: a "
                                   "numeric value is read differently",
    "FIELD_STRING_OR_BYTES_LABEL_CHANGED": "field {name} changed between single and repeated "
                                           "(string/bytes keep the last value)",
    "REQUIRED_FIELD_ADDED": "required field {name} was added: {writer} data without it is "
                            "rejected",
    "REQUIRED_FIELD_REMOVED": "required field {name} was removed: readers that still require "
                              "it reject the data",
    "ONEOF_ADDED": "oneof {name} was added", "ONEOF_REMOVED": "oneof {name} was removed",
    "ONEOF_FIELD_ADDED": "field {name} was added to a oneof",
    "ONEOF_FIELD_REMOVED": "field {name} was dropped from its oneof: {writer} data that set it "
                           "loses the choice",
    "ONEOF_FIELD_MOVED_TO_TOP_LEVEL": "field {name} moved out of its oneof",
    "MULTIPLE_FIELDS_MOVED_TO_ONEOF": "several independent fields were put in oneof {name}: "
                                      "{writer} data that set more than one keeps only the last",
    "FIELD_MOVED_TO_EXISTING_ONEOF": "fields that were independent now share oneof {name}: "
                                     "{writer} data that set both keeps only the last",
    "FILE_SAME_PACKAGE": "the package changed",
    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED": "field {name} was deleted without reserving its "
                                              "number",
    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED": "field {name} was deleted without reserving its name",
    "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED": "enum value {name} was deleted without "
                                                   "reserving its number",
    "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED": "enum value {name} was deleted without "
                                                 "reserving its name",
    "ENUM_VALUE_SAME_NAME": "enum value {name} was renamed: JSON carries the name",
    "FIELD_SAME_NAME": "field {name} was renamed: JSON carries the name",
    "FIELD_SAME_JSON_NAME": "field {name} has another JSON name",
    "FIELD_SAME_ONEOF": "field {name} moved into or out of a oneof",
    "FIELD_WIRE_COMPATIBLE_TYPE": "field {name} changed to a wire-incompatible type",
    "FIELD_WIRE_JSON_COMPATIBLE_TYPE": "field {name} changed to a type with another wire or "
                                       "JSON encoding",
    "FIELD_WIRE_COMPATIBLE_CARDINALITY": "field {name} changed between single and repeated",
    "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY": "field {name} changed cardinality (single, "
                                              "repeated or map)",
    "FIELD_SAME_DEFAULT": "field {name} has another default",
    "MESSAGE_SAME_REQUIRED_FIELDS": "the required fields of {name} changed",
}


def proto_differences(writer: ProtoSchema, reader: ProtoSchema,
                      policy: str = "strict") -> tuple[list[Difference], bool]:
    """The differences from writer to reader under a policy, and whether it allows them all."""
    if policy in RULE_SETS:
        found = compare_buf(writer, reader, policy)
        return found, not found
    found = compare(writer, reader)
    return found, all(d.type in COMPATIBLE for d in found)


def _allowed(kind: str, policy: str) -> bool:
    return policy not in RULE_SETS and kind in COMPATIBLE


def check_proto(old: ProtoSchema, new: ProtoSchema, mode: str = "BACKWARD",
                policy: str = "strict", *, witness: bool = True) -> CompatResult:
    """Check whether ``new`` may replace ``old``.

    Raises:
        ValueError: unknown mode or policy.
    """
    mode = normalise_mode(mode)
    policy = policy.lower()
    if policy not in PROTO_POLICIES:
        raise ValueError(f"policy {policy!r} is not one of {', '.join(PROTO_POLICIES)} "
                         "for Protobuf")
    changes: list[Change] = []
    compatible = True
    broken: list[tuple[str, ProtoSchema, ProtoSchema, list[Difference]]] = []
    backward: list[Difference] | None = None
    for direction in directions(mode):
        writer, reader = (old, new) if direction == "backward" else (new, old)
        found, ok = proto_differences(writer, reader, policy)
        if direction == "backward" and policy not in RULE_SETS:
            backward = found
        compatible &= ok
        for d in found:
            allowed = _allowed(d.type, policy)
            changes.append(Change(d.type, d.path, allowed,
                                  _explain(d, direction, allowed, writer, reader),
                                  direction, () if allowed else _fixes(d)))
        if not ok:
            broken.append((direction, writer, reader,
                           [d for d in found if not _allowed(d.type, policy)]))
    renames = find_proto_renames(backward if backward is not None else compare(old, new),
                                 old, new)
    found_witness = None
    if witness and not compatible:
        for direction, writer, reader, bad in broken:
            names = ("old", "new") if direction == "backward" else ("new", "old")
            found_witness = proto_witness(writer, reader, bad, names)
            if found_witness is not None:
                break
    return CompatResult(compatible, mode, policy, changes, renames, found_witness)


def _explain(d: Difference, direction: str, allowed: bool, writer_schema: ProtoSchema,
             reader_schema: ProtoSchema) -> str:
    writer = "old" if direction == "backward" else "new"
    name = d.path.removeprefix("#/").replace("/", ".") or "the file"
    number = d.path.rsplit("/", 1)[-1]
    if number.isdigit() and "ENUM" not in d.type:
        names = []
        for schema in (writer_schema, reader_schema):
            message = _locate(schema, d.path)
            field = next((f.name for f in message.fields if str(f.number) == number), None) \
                if message else None
            if field and field not in names:
                names.append(field)
        if names:
            name = f"{' -> '.join(names)} ({name})"
    text = _WHY.get(d.type, d.type.lower().replace("_", " ") + " at {name}")
    text = text.format(name=name, writer=writer)
    return text if allowed else f"{text} (breaks {writer} data)"


def _fixes(d: Difference) -> tuple[str, ...]:
    bump = "bump the major version (a new subject) and migrate or dual-publish"
    if "REMOVED" in d.type or "DELETE" in d.type:
        return ("keep it, or mark the number and name `reserved`", bump)
    if "REQUIRED" in d.type:
        return ("make the field optional", bump)
    if "ONEOF" in d.type:
        return ("keep independent fields outside the oneof; add new fields to it instead", bump)
    if "NAME" in d.type and "TYPE" not in d.type:
        return ("keep the old name (set json_name if only the JSON spelling should change)",
                bump)
    return ("add a new field with a new number and deprecate the old one", bump)


def find_proto_renames(diffs: list[Difference], old: ProtoSchema,
                       new: ProtoSchema) -> list[Rename]:
    """Fields renamed at the same number, and removed/added pairs with similar names."""
    out: list[Rename] = []
    by_parent: dict[str, tuple[list[str], list[str]]] = {}
    changed_paths = {d.path for d in diffs if d.type != "FIELD_NAME_CHANGED"}
    for d in diffs:
        parent, _, _ = d.path.rpartition("/")
        if d.type == "FIELD_NAME_CHANGED":
            before, after = _field_names(old, new, d.path)
            if before and after:
                out.append(Rename(parent, before, after, d.path not in changed_paths))
        elif d.type in ("FIELD_REMOVED", "FIELD_ADDED") and d.node is not None:
            gone, fresh = by_parent.setdefault(parent, ([], []))
            (gone if d.type == "FIELD_REMOVED" else fresh).append(d.node.name)
    for parent, (gone, fresh) in by_parent.items():
        if len(gone) == 1 and len(fresh) == 1 and _similar(gone[0], fresh[0]):
            out.append(Rename(parent, gone[0], fresh[0], same_shape=False))
    return out


def _field_names(old: ProtoSchema, new: ProtoSchema, path: str) -> tuple[str, str]:
    names = []
    for schema in (old, new):
        target = _locate(schema, path)
        number = path.rsplit("/", 1)[-1]
        field = next((f for f in target.fields if str(f.number) == number), None) \
            if target else None
        names.append(field.name if field else "")
    return names[0], names[1]


def _locate(schema: ProtoSchema, path: str) -> ProtoMessage | None:
    """The message a path points into (``#/Outer/Inner/oneof/3`` -> Outer.Inner)."""
    level: list[ProtoMessage] = schema.messages
    found: ProtoMessage | None = None
    for part in path.removeprefix("#/").split("/"):
        nxt = next((m for m in level if m.name == part), None)
        if nxt is None:
            break
        found, level = nxt, nxt.messages
    return found


def proto_witness(writer: ProtoSchema, reader: ProtoSchema, bad: list[Difference],
                  names: tuple[str, str]) -> Witness | None:
    """Bytes written with the writer's message that the reader rejects or reads differently."""
    for d in bad:
        target = _locate(writer, d.path)
        if target is None:
            continue
        local = target.full_name.removeprefix(writer.package + ".") if writer.package \
            else target.full_name
        reader_name = f"{reader.package}.{local}" if reader.package else local
        message = fill(message_class(writer, target.full_name)(),
                       prefer=frozenset(_numbers(d, reader, reader_name)))
        data = message.SerializeToString()
        written = to_dict(message)
        payload = {"encoding": "protobuf", "message": target.full_name, "hex": data.hex(),
                   "written": written}
        if reader.types.get(reader_name) is None:
            return Witness(payload, names[0], names[1],
                           f"the {names[1]} schema has no message {local}", d.path)
        try:
            read = decode(reader, data, reader_name)
        except DecodeError as exc:
            return Witness(payload, names[0], names[1], str(exc), d.path)
        problem = _misread(message, read, d)
        if problem:
            payload["read"] = to_dict(read)
            return Witness(payload, names[0], names[1], problem, d.path)
    return None


def _misread(written: object, read: object, d: Difference) -> str:
    w_desc, r_desc = written.DESCRIPTOR, read.DESCRIPTOR  # type: ignore[attr-defined]
    numbers = _member_numbers(d, r_desc)
    w_dict, r_dict = to_dict(written), to_dict(read)  # type: ignore[arg-type]
    for number in numbers:
        w_field = w_desc.fields_by_number.get(number)
        r_field = r_desc.fields_by_number.get(number)
        if w_field is None or w_field.name not in w_dict:
            continue
        before = w_dict[w_field.name]
        if r_field is None:
            return f"field {number} ({w_field.name}) is unknown to the reader"
        after = r_dict.get(r_field.name)
        if isinstance(after, list) and not isinstance(before, list) and after == [before]:
            continue
        if after != before:
            seen = "absent" if after is None else f"{r_field.name}={after!r}"
            return f"field {number}: written {w_field.name}={before!r}, read as {seen}"
    return ""


def _numbers(d: Difference, reader: ProtoSchema, reader_name: str) -> list[int]:
    if reader.types.get(reader_name) is None:
        return []
    return _member_numbers(d, message_class(reader, reader_name).DESCRIPTOR)


def _member_numbers(d: Difference, r_desc: object) -> list[int]:
    """The field number a path ends in, or the members of the reader's oneof it names."""
    last = d.path.rsplit("/", 1)[-1]
    if last.isdigit():
        return [int(last)]
    oneof = r_desc.oneofs_by_name.get(last)  # type: ignore[attr-defined]
    return [f.number for f in oneof.fields] if oneof else []
