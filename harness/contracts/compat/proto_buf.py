"""buf's WIRE and WIRE_JSON breaking-change rule sets, on the same descriptors.

Rule names are buf's (``FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED``, ``FIELD_SAME_JSON_NAME``...),
paths are Confluent-style (``#/Message/3``). Every rule found is a breaking change; buf has no
"allowed" differences. Messages are matched by full name; a deleted message is not a wire break.
"""

from __future__ import annotations

from harness.contracts.compat.differences import Difference
from harness.contracts.compat.proto_load import ProtoEnum, ProtoField, ProtoMessage, ProtoSchema

__all__ = ["RULE_SETS", "compare_buf"]

RULE_SETS = ("wire", "wire_json")

_WIRE_GROUPS = [{"int32", "int64", "uint32", "uint64", "bool", "enum"}, {"sint32", "sint64"},
                {"fixed32", "sfixed32"}, {"fixed64", "sfixed64"}]
_JSON_GROUPS = [{"int32", "uint32"}, {"int64", "uint64"}]


def compare_buf(old: ProtoSchema, new: ProtoSchema, rules: str) -> list[Difference]:
    """buf's breaking changes from ``old`` to ``new`` under "wire" or "wire_json"."""
    if rules not in RULE_SETS:
        raise ValueError(f"rule set {rules!r} is not one of {', '.join(RULE_SETS)}")
    json = rules == "wire_json"
    out: list[Difference] = []
    if old.package != new.package:
        out.append(Difference("FILE_SAME_PACKAGE", "#/"))
    _types(old.messages, old.enums, new.messages, new.enums, [], json, out)
    return out


def _types(old_msgs: list[ProtoMessage], old_enums: list[ProtoEnum],
           new_msgs: list[ProtoMessage], new_enums: list[ProtoEnum], path: list[str],
           json: bool, out: list[Difference]) -> None:
    new_m = {m.name: m for m in new_msgs}
    for m in old_msgs:
        if m.name in new_m:
            _message(m, new_m[m.name], [*path, m.name], json, out)
    new_e = {e.name: e for e in new_enums}
    for e in old_enums:
        if e.name in new_e:
            _enum(e, new_e[e.name], [*path, e.name], json, out)


def _at(path: list[str], *extra: str) -> str:
    return "#/" + "/".join([*path, *extra])


def _enum(old: ProtoEnum, new: ProtoEnum, path: list[str], json: bool,
          out: list[Difference]) -> None:
    after: dict[int, str] = {}
    for name, number in new.values:
        after.setdefault(number, name)
    for name, number in old.values:
        where = _at(path, str(number))
        if number not in after:
            if not any(lo <= number < hi for lo, hi in new.reserved_ranges):
                out.append(Difference("ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", where))
            if json and name not in new.reserved_names:
                out.append(Difference("ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", where))
        elif json and after[number] != name:
            out.append(Difference("ENUM_VALUE_SAME_NAME", where))


def _message(old: ProtoMessage, new: ProtoMessage, path: list[str], json: bool,
             out: list[Difference]) -> None:
    after = {f.number: f for f in new.fields}
    for f in old.fields:
        where = _at(path, str(f.number))
        g = after.get(f.number)
        if g is None:
            if not new.reserves(f.number):
                out.append(Difference("FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", where, f))
            if json and f.name not in new.reserved_names:
                out.append(Difference("FIELD_NO_DELETE_UNLESS_NAME_RESERVED", where, f))
            continue
        if json and f.name != g.name:
            out.append(Difference("FIELD_SAME_NAME", where, (f, g)))
        if json and f.json_name != g.json_name:
            out.append(Difference("FIELD_SAME_JSON_NAME", where))
        if f.oneof != g.oneof:
            out.append(Difference("FIELD_SAME_ONEOF", where))
        if not _cardinality_ok(f, g, json):
            rule = "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY" if json else \
                "FIELD_WIRE_COMPATIBLE_CARDINALITY"
            out.append(Difference(rule, where))
        if not _type_ok(f, g, json):
            rule = "FIELD_WIRE_JSON_COMPATIBLE_TYPE" if json else "FIELD_WIRE_COMPATIBLE_TYPE"
            out.append(Difference(rule, where))
        if f.default != g.default:
            out.append(Difference("FIELD_SAME_DEFAULT", where))
    required_before = {f.number for f in old.fields if f.label == "required"}
    required_after = {f.number for f in new.fields if f.label == "required"}
    if required_before != required_after:
        out.append(Difference("MESSAGE_SAME_REQUIRED_FIELDS", _at(path)))
    _types(old.messages, old.enums, new.messages, new.enums, path, json, out)


def _cardinality(f: ProtoField, json: bool) -> str:
    if f.kind == "map":
        return "map" if json else "repeated"
    return "repeated" if f.label == "repeated" else "singular"


def _cardinality_ok(f: ProtoField, g: ProtoField, json: bool) -> bool:
    return _cardinality(f, json) == _cardinality(g, json)


def _type_ok(f: ProtoField, g: ProtoField, json: bool) -> bool:
    if f.kind == "map" and g.kind == "map":
        assert f.key and g.key and f.value and g.value
        return _type_ok(f.key, g.key, json) and _type_ok(f.value, g.value, json)
    if f.kind in ("message", "map") or g.kind in ("message", "map"):
        return f.kind == g.kind == "message" and f.type == g.type
    old_t = "enum" if f.kind == "enum" else f.type
    new_t = "enum" if g.kind == "enum" else g.type
    if f.kind == g.kind == "enum":
        return not json or f.type.rsplit(".", 1)[-1] == g.type.rsplit(".", 1)[-1]
    if old_t == new_t:
        return True
    if json:
        return any(old_t in grp and new_t in grp for grp in _JSON_GROUPS)
    if (old_t, new_t) == ("string", "bytes"):
        return True
    return any(old_t in grp and new_t in grp for grp in _WIRE_GROUPS)
