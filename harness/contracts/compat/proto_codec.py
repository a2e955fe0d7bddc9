"""The Protobuf runtime over a compiled :class:`ProtoSchema`: message classes, sample values,
encode and decode. Used by witnesses, binary envelopes and fuzzing.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message

from harness.contracts.compat.proto_load import ProtoSchema

__all__ = ["decode", "encode", "fill", "message_class", "sample_value", "to_dict", "to_native"]

_POOLS: dict[bytes, descriptor_pool.DescriptorPool] = {}


def _pool(schema: ProtoSchema) -> descriptor_pool.DescriptorPool:
    key = schema.descriptors
    pool = _POOLS.get(key)
    if pool is None:
        pool = descriptor_pool.DescriptorPool()
        for fd in descriptor_pb2.FileDescriptorSet.FromString(schema.descriptors).file:
            pool.Add(fd)
        if len(_POOLS) > 512:
            _POOLS.clear()
        _POOLS[key] = pool
    return pool


def message_class(schema: ProtoSchema, full_name: str | None = None) -> type[Message]:
    """The runtime class of a message (default: the root file's first message)."""
    name = schema.message(full_name).full_name
    return message_factory.GetMessageClass(_pool(schema).FindMessageTypeByName(name))


def encode(schema: ProtoSchema, value: dict[str, Any], full_name: str | None = None) -> bytes:
    """Serialize a dict (JSON mapping, field names or json names) with the schema."""
    from google.protobuf.json_format import ParseDict

    message = message_class(schema, full_name)()
    ParseDict(value, message)
    return message.SerializeToString()


def decode(schema: ProtoSchema, data: bytes, full_name: str | None = None) -> Message:
    """Parse bytes; raises ``DecodeError`` on malformed bytes or missing required fields."""
    message = message_class(schema, full_name)()
    message.ParseFromString(data)
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        raise DecodeError(f"missing required fields: {missing}")
    return message


def to_dict(message: Message) -> dict[str, Any]:
    """The message as a JSON-like dict with the .proto field names."""
    return MessageToDict(message, preserving_proto_field_name=True)


_SAMPLES: dict[int, Any] = {
    FieldDescriptor.TYPE_STRING: "high", FieldDescriptor.TYPE_BYTES: b"\x01\xff",
    FieldDescriptor.TYPE_BOOL: True, FieldDescriptor.TYPE_FLOAT: 1.5,
    FieldDescriptor.TYPE_DOUBLE: 0.75,
}


def sample_value(field: FieldDescriptor, variant: int = 0) -> Any:
    """A non-default value for a scalar or enum field (``variant`` picks another one)."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values if v.number != 0] or [0]
        return values[variant % len(values)]
    if field.type in _SAMPLES:
        base = _SAMPLES[field.type]
        if isinstance(base, str):
            return base + ("" if not variant else str(variant))
        return base
    if field.type in (FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
                      FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64):
        return -3 - variant
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        return 300 + variant
    return 7 + variant


def fill(message: Message, depth: int = 0, prefer: frozenset[int] = frozenset()) -> Message:
    """Set every field to a non-default sample value (one member per oneof, the ``prefer``
    numbers first; all of those are set, so a later one may displace an earlier one)."""
    desc = message.DESCRIPTOR
    chosen: set[str] = set()
    fields = sorted(desc.fields, key=lambda f: f.number not in prefer)
    for field in fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in chosen and field.number not in prefer:
            continue
        if oneof is not None:
            chosen.add(oneof.name)
        _set(message, field, depth)
    return message


def _set(message: Message, field: FieldDescriptor, depth: int) -> None:
    repeated = _is_repeated(field)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        container = getattr(message, field.name)
        key = sample_value(key_field)
        if value_field.message_type is not None:
            if depth < 3:
                fill(container[key], depth + 1)
        else:
            container[key] = sample_value(value_field)
        return
    if field.message_type is not None:
        if depth >= 3:
            return
        if repeated:
            fill(getattr(message, field.name).add(), depth + 1)
        else:
            fill(getattr(message, field.name), depth + 1)
        return
    if repeated:
        getattr(message, field.name).extend([sample_value(field), sample_value(field, 1)])
    else:
        setattr(message, field.name, sample_value(field))


def _is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return field.label == FieldDescriptor.LABEL_REPEATED  # older runtimes


def to_native(message: Message) -> dict[str, Any]:
    """The message as plain Python values: enums by name, int64 as int, bytes as bytes, every
    field without presence at its default (as a generated class reads them)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _native(value_field, v) for k, v in value.items()}
        elif _is_repeated(field):
            out[field.name] = [_native(field, v) for v in value]
        elif field.has_presence and not message.HasField(field.name):
            continue
        else:
            out[field.name] = _native(field, value)
    return out


def _native(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None:
        return to_native(value)
    if field.enum_type is not None:
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    return value
