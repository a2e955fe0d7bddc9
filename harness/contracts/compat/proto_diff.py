"""Confluent Schema Registry's Protobuf diff (``ProtobufSchema`` / ``SchemaDiff``), on descriptors.

``compare(original, update)`` returns the differences Confluent reports, in its order: package,
then per level the messages (Java ``HashSet`` order of their names), then the enums. Inside a
message: the oneof-move checks, oneofs removed/added by sorted name, then fields by number,
then the nested types; ``MESSAGE_MOVED`` after a message's own differences. Paths are
``#/Message/Nested/3``, ``#/Message/oneof/3``, ``#/Enum/1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.contracts.compat.differences import Difference
from harness.contracts.compat.javaorder import (
    hashmap_order,
    hashset_union_order,
    int_hashset_union_order,
)
from harness.contracts.compat.proto_load import (
    ProtoEnum,
    ProtoField,
    ProtoMessage,
    ProtoSchema,
    TypeInfo,
)

__all__ = ["COMPATIBLE", "PROTO_TYPES", "compare"]

#: Every Protobuf difference type, in Confluent's declaration order (26).
PROTO_TYPES: tuple[str, ...] = (
    "PACKAGE_CHANGED", "MESSAGE_ADDED", "MESSAGE_REMOVED", "MESSAGE_MOVED", "ENUM_ADDED",
    "ENUM_REMOVED", "ENUM_CONST_ADDED", "ENUM_CONST_CHANGED", "ENUM_CONST_REMOVED",
    "FIELD_ADDED", "FIELD_REMOVED", "FIELD_NAME_CHANGED", "FIELD_KIND_CHANGED",
    "FIELD_SCALAR_KIND_CHANGED", "FIELD_NAMED_TYPE_CHANGED", "FIELD_NUMERIC_LABEL_CHANGED",
    "FIELD_STRING_OR_BYTES_LABEL_CHANGED", "REQUIRED_FIELD_ADDED", "REQUIRED_FIELD_REMOVED",
    "ONEOF_ADDED", "ONEOF_REMOVED", "ONEOF_FIELD_ADDED", "ONEOF_FIELD_REMOVED",
    "ONEOF_FIELD_MOVED_TO_TOP_LEVEL", "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
    "FIELD_MOVED_TO_EXISTING_ONEOF",
)

#: The 15 types Confluent accepts (``SchemaDiff.COMPATIBLE_CHANGES``); there is no policy.
COMPATIBLE: frozenset[str] = frozenset({
    "MESSAGE_ADDED", "MESSAGE_MOVED", "ENUM_ADDED", "ENUM_REMOVED", "ENUM_CONST_ADDED",
    "ENUM_CONST_CHANGED", "ENUM_CONST_REMOVED", "FIELD_ADDED", "FIELD_REMOVED",
    "FIELD_NAME_CHANGED", "FIELD_STRING_OR_BYTES_LABEL_CHANGED", "ONEOF_ADDED",
    "ONEOF_REMOVED", "ONEOF_FIELD_ADDED", "ONEOF_FIELD_MOVED_TO_TOP_LEVEL",
})

_GROUPS = {
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "bool", "enum"), "number"),
    **dict.fromkeys(("sint32", "sint64"), "signed"),
    **dict.fromkeys(("string", "bytes"), "string_or_bytes"),
    **dict.fromkeys(("fixed32", "sfixed32"), "fixed32"),
    **dict.fromkeys(("fixed64", "sfixed64"), "fixed64"),
    "float": "float", "double": "double",
}


@dataclass
class _Context:
    old: ProtoSchema
    new: ProtoSchema
    path: list[str] = field(default_factory=list)
    diffs: list[Difference] = field(default_factory=list)
    active: frozenset[int] = frozenset()

    def add(self, kind: str, *extra: str, node: object = None) -> None:
        self.diffs.append(Difference(kind, "#/" + "/".join([*self.path, *extra]), node))

    def sub(self, path: list[str]) -> _Context:
        return _Context(self.old, self.new, list(path), [], self.active)


def compare(original: ProtoSchema, update: ProtoSchema) -> list[Difference]:
    """Confluent's differences from ``original`` (writer) to ``update`` (reader)."""
    ctx = _Context(original, update)
    if original.package != update.package:
        ctx.add("PACKAGE_CHANGED")
    _types(ctx, original.messages, original.enums, update.messages, update.enums)
    return ctx.diffs


def _types(ctx: _Context, old_msgs: list[ProtoMessage], old_enums: list[ProtoEnum],
           new_msgs: list[ProtoMessage], new_enums: list[ProtoEnum]) -> None:
    old_m = {m.name: (i, m) for i, m in enumerate(old_msgs)}
    new_m = {m.name: (i, m) for i, m in enumerate(new_msgs)}
    for name in hashset_union_order(hashmap_order(old_m), hashmap_order(new_m)):
        ctx.path.append(name)
        if name not in new_m:
            ctx.add("MESSAGE_REMOVED")
        elif name not in old_m:
            ctx.add("MESSAGE_ADDED")
        else:
            _message(ctx, old_m[name][1], new_m[name][1])
            if old_m[name][0] != new_m[name][0]:
                ctx.add("MESSAGE_MOVED")
        ctx.path.pop()
    old_e = {e.name: e for e in old_enums}
    new_e = {e.name: e for e in new_enums}
    for name in hashset_union_order(hashmap_order(old_e), hashmap_order(new_e)):
        ctx.path.append(name)
        if name not in new_e:
            ctx.add("ENUM_REMOVED")
        elif name not in old_e:
            ctx.add("ENUM_ADDED")
        else:
            _enum(ctx, old_e[name], new_e[name])
        ctx.path.pop()


def _enum(ctx: _Context, old: ProtoEnum, new: ProtoEnum) -> None:
    before = {n: name for name, n in old.values}
    after = {n: name for name, n in new.values}
    for number in int_hashset_union_order(before, after):
        if number not in after:
            ctx.add("ENUM_CONST_REMOVED", str(number))
        elif number not in before:
            ctx.add("ENUM_CONST_ADDED", str(number))
        elif before[number] != after[number]:
            ctx.add("ENUM_CONST_CHANGED", str(number))


def _message(ctx: _Context, old: ProtoMessage, new: ProtoMessage) -> None:
    if id(old) not in ctx.active:
        saved = ctx.active
        ctx.active = saved | {id(old)}
        try:
            _fields(ctx, old, new)
        finally:
            ctx.active = saved
    _types(ctx, old.messages, old.enums, new.messages, new.enums)


def _fields(ctx: _Context, old: ProtoMessage, new: ProtoMessage) -> None:
    old_by = {f.number: f for f in old.fields}
    new_by = {f.number: f for f in new.fields}
    old_groups: dict[str, list[ProtoField]] = {o: [] for o in old.oneofs}
    for f in old.fields:
        if f.oneof is not None:
            old_groups[f.oneof].append(f)
    new_oneofs = set(new.oneofs)
    deleted = {name for name, members in old_groups.items()
               if name not in new_oneofs and not any(m.number in new_by for m in members)}
    for oneof in new.oneofs:
        origins: set[str] = set()
        moved_in = 0
        for f in new.fields:
            if f.oneof != oneof or f.number not in old_by:
                continue
            origin = old_by[f.number]
            if origin.oneof is not None:
                origins.add("oneof:" + origin.oneof)
            else:
                origins.add(f"field:{f.number}")
                moved_in += 1
        if len(origins) > 1:
            kind = "MULTIPLE_FIELDS_MOVED_TO_ONEOF" if moved_in > 1 else \
                "FIELD_MOVED_TO_EXISTING_ONEOF"
            ctx.add(kind, oneof)
    for name in sorted(set(old.oneofs) | new_oneofs):
        if name not in new_oneofs:
            ctx.add("ONEOF_REMOVED", name)
        elif name not in old_groups:
            ctx.add("ONEOF_ADDED", name)
    for number in sorted(old_by.keys() | new_by.keys()):
        before, after = old_by.get(number), new_by.get(number)
        if after is None:
            assert before is not None
            if before.oneof is not None:
                if before.oneof not in deleted:
                    ctx.add("ONEOF_FIELD_REMOVED", before.oneof, str(number), node=before)
            else:
                kind = "REQUIRED_FIELD_REMOVED" if before.label == "required" else "FIELD_REMOVED"
                ctx.add(kind, str(number), node=before)
        elif before is None:
            if after.oneof is not None:
                ctx.add("ONEOF_FIELD_ADDED", after.oneof, str(number), node=after)
            else:
                kind = "REQUIRED_FIELD_ADDED" if after.label == "required" else "FIELD_ADDED"
                ctx.add(kind, str(number), node=after)
        else:
            if before.oneof is not None and after.oneof is None:
                ctx.add("ONEOF_FIELD_MOVED_TO_TOP_LEVEL", str(number))
            where = [after.oneof, str(number)] if after.oneof is not None else [str(number)]
            ctx.path.extend(where)
            if before.name != after.name:
                ctx.add("FIELD_NAME_CHANGED", node=(before, after))
            _labels_and_types(ctx, before, after, before.label, after.label)
            del ctx.path[-len(where):]


def _labels_and_types(ctx: _Context, old: ProtoField, new: ProtoField, old_label: str | None,
                      new_label: str | None) -> None:
    old_kind = "scalar" if old.kind == "enum" else old.kind
    new_kind = "scalar" if new.kind == "enum" else new.kind
    if old_kind != new_kind:
        ctx.add("FIELD_KIND_CHANGED")
    elif old_kind == "scalar":
        old_group = _GROUPS["enum" if old.kind == "enum" else old.type]
        new_group = _GROUPS["enum" if new.kind == "enum" else new.type]
        if old_group != new_group:
            ctx.add("FIELD_SCALAR_KIND_CHANGED")
        elif old_label is not None and new_label is not None and old_label != new_label:
            if old_group == "string_or_bytes":
                ctx.add("FIELD_STRING_OR_BYTES_LABEL_CHANGED")
            else:
                ctx.add("FIELD_NUMERIC_LABEL_CHANGED")
    elif old_kind == "message":
        _message_types(ctx, old.type, new.type)
    else:
        assert old.key and new.key and old.value and new.value
        _labels_and_types(ctx, old.key, new.key, None, None)
        _labels_and_types(ctx, old.value, new.value, None, None)


def _local(full: str, info: TypeInfo | None) -> str:
    if info is not None and info.package and full.startswith(info.package + "."):
        return full[len(info.package) + 1:]
    return full


def _message_types(ctx: _Context, old_type: str, new_type: str) -> None:
    old_info, new_info = ctx.old.types.get(old_type), ctx.new.types.get(new_type)
    old_local, new_local = _local(old_type, old_info), _local(new_type, new_info)
    if old_local != new_local:
        ctx.add("FIELD_NAMED_TYPE_CHANGED")
        return
    if old_info is None or new_info is None:
        return
    if (old_info.ref is not None and new_info.ref is not None
            and old_info.ref == new_info.ref):
        return
    assert isinstance(old_info.type, ProtoMessage) and isinstance(new_info.type, ProtoMessage)
    sub = ctx.sub(old_local.split("."))
    _message(sub, old_info.type, new_info.type)
    ctx.diffs.extend(sub.diffs)
    if any(d.type not in COMPATIBLE for d in sub.diffs):
        ctx.add("FIELD_NAMED_TYPE_CHANGED")
