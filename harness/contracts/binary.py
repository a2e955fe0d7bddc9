"""Binary payloads (Protobuf, Avro) inside the JSON envelope, validated like JSON payloads.

A subject whose versions are ``.proto`` or ``.avsc`` carries its payload as an object::

    {"content_type": "application/protobuf",          # or application/x-protobuf, avro/binary
     "schema": "payment.risk_assessed@1",             # the registry reference (type@version)
     "message": "payments.PaymentTransaction",        # Protobuf only; default: the first message
     "data": "<base64 of the encoded bytes>"}

``SchemaRegistry.validate`` calls :func:`validate_binary` for such subjects: the bytes must
decode with the real codec (protobuf runtime, fastavro) and pass the checks below, or the
payload is ``schema_invalid`` naming the place. Agents build payloads with :func:`encode_payload`
and read them with :func:`decode_payload`.

A ``v<N>.values.json`` beside the version (a JSON Schema) also checks the decoded value (see
:func:`values_validator`). Checks beyond decoding: Protobuf -- a known field number with the
wrong wire type (the runtime would silently keep it as an unknown field), an enum number the
schema does not declare, missing proto2 required fields; unknown field numbers are allowed
(schema evolution). Avro -- every byte consumed (no trailing garbage).
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ValidationFailed

if TYPE_CHECKING:
    from harness.contracts.registry import SchemaRegistry, SchemaVersion

__all__ = ["AVRO_TYPES", "PROTOBUF_TYPES", "BinaryValidator", "check_avro_bytes",
           "check_protobuf_bytes", "decode_payload", "encode_payload", "is_binary_payload",
           "validate_binary", "values_path", "values_validator"]

PROTOBUF_TYPES = ("application/protobuf", "application/x-protobuf")
AVRO_TYPES = ("avro/binary", "application/avro")
_LOADED: dict[tuple[str, int, int], Any] = {}


def is_binary_payload(payload: Any) -> bool:
    """True for a ``{"content_type", "data", ...}`` binary payload object."""
    return isinstance(payload, dict) and "content_type" in payload and "data" in payload


def _schema(sv: SchemaVersion, root: Path) -> Any:
    key = (str(sv.path.resolve()), sv.version, sv.path.stat().st_mtime_ns)
    found = _LOADED.get(key)
    if found is None:
        from harness.contracts.compat.formats import load_file

        found = _LOADED[key] = load_file(sv.path, root=root).schema
    return found


def prepare(registry: SchemaRegistry, sv: SchemaVersion) -> None:
    """Compile the version's schema (protoc or the Avro parser) and its value rules now, so
    the first message an agent handles does not pay for it inside its latency budget."""
    _schema(sv, registry.root)
    values_validator(registry, sv)


def _fail(sv: SchemaVersion, where: str, text: str) -> ValidationFailed:
    return ValidationFailed("schema_invalid", f"{sv.subject} v{sv.version} at {where}: {text}",
                            path=where)


def validate_binary(registry: SchemaRegistry, sv: SchemaVersion, payload: Any) -> Any:
    """Decode and check a binary payload against a .proto/.avsc version; the decoded value.

    Raises:
        ValidationFailed: reason ``schema_invalid`` naming the field or byte place.
    """
    if not is_binary_payload(payload):
        raise _fail(sv, "#", f"expected a binary payload object {{content_type, schema, data}} "
                             f"for a {sv.format} subject")
    kind = payload["content_type"]
    accepted = PROTOBUF_TYPES if sv.format == "protobuf" else AVRO_TYPES
    if kind not in accepted:
        raise _fail(sv, "#/content_type", f"content type {kind!r} is not {accepted[0]}")
    reference = payload.get("schema")
    if reference is not None and reference != f"{sv.subject}@{sv.version}":
        raise _fail(sv, "#/schema", f"refers to {reference!r}, not {sv.subject}@{sv.version}")
    try:
        data = base64.b64decode(str(payload["data"]), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(sv, "#/data", "not base64") from None
    schema = _schema(sv, registry.root)
    if sv.format == "protobuf":
        problem, value = check_protobuf_bytes(schema, data, payload.get("message"))
    else:
        problem, value = check_avro_bytes(schema, data)
    if problem:
        raise _fail(sv, "#/data", problem)
    rules = values_validator(registry, sv)
    if rules is not None:
        error = next(iter(sorted(rules.iter_errors(value), key=lambda e: e.path)), None)
        if error is not None:
            pointer = "#/" + "/".join(str(p) for p in error.absolute_path)
            raise _fail(sv, f"#/data {pointer}", error.message[:300])
    return value


_RULES: dict[str, Any] = {}


def values_path(sv: SchemaVersion) -> Path:
    """``v<N>.values.json`` beside a .proto/.avsc version: a JSON Schema for decoded values."""
    return sv.path.with_name(f"v{sv.version}.values.json")


def values_validator(registry: SchemaRegistry, sv: SchemaVersion) -> Any:
    """The validator of the version's ``v<N>.values.json`` (None when there is none).

    Protobuf and Avro say nothing about values (a pattern, a range, an enum of strings); this
    optional JSON Schema, applied to the decoded payload, does, as Confluent's data-contract
    rules do. Payloads that fail it are ``schema_invalid`` like any other."""
    path = values_path(sv)
    key = str(path)
    if key not in _RULES:
        if not path.exists():
            _RULES[key] = None
        else:
            from jsonschema import validators

            from harness.contracts.ecma import ecma_validator_class
            from harness.contracts.registry import load_json_file

            schema = load_json_file(path)
            cls = ecma_validator_class(validators.validator_for(schema,
                                                                default=validators.Draft7Validator))
            _RULES[key] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return _RULES[key]


def check_protobuf_bytes(schema: Any, data: bytes, message: str | None = None
                         ) -> tuple[str, Any]:
    """("", decoded dict) when the bytes are a valid message, else (the problem, None)."""
    from google.protobuf.message import DecodeError

    from harness.contracts.compat.proto_codec import decode, to_native
    from harness.errors import SchemaError

    try:
        parsed = decode(schema, data, message)
    except SchemaError as exc:
        return str(exc), None
    except (DecodeError, RuntimeError, ValueError) as exc:
        return f"not a valid {message or schema.message().full_name}: {exc}", None
    problem = _proto_problems(parsed, "")
    return (problem, None) if problem else ("", to_native(parsed))


def _proto_problems(message: Any, prefix: str) -> str:
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.unknown_fields import UnknownFieldSet

    desc = message.DESCRIPTOR
    for unknown in UnknownFieldSet(message):
        field = desc.fields_by_number.get(unknown.field_number)
        if field is not None:
            if field.enum_type is not None:
                return (f"{prefix}{field.name}: enum number {unknown.data} is not a value of "
                        f"{field.enum_type.full_name}")
            return (f"{prefix}{field.name}: field {field.number} has wire type "
                    f"{unknown.wire_type}, which its type {_type_name(field)} cannot have")
    for field, value in message.ListFields():
        where = f"{prefix}{field.name}"
        values = value if field.is_repeated and not _is_map(field) else [value]
        if _is_map(field):
            values = list(value.values())
            field = field.message_type.fields_by_name["value"]
        for item in values:
            if field.type == FieldDescriptor.TYPE_ENUM:
                if field.enum_type.values_by_number.get(item) is None:
                    return (f"{where}: enum number {item} is not a value of "
                            f"{field.enum_type.full_name}")
            elif field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
                problem = _proto_problems(item, where + ".")
                if problem:
                    return problem
    return ""


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _type_name(field: Any) -> str:
    from google.protobuf.descriptor import FieldDescriptor

    names = {v: k.removeprefix("TYPE_").lower() for k, v in vars(FieldDescriptor).items()
             if k.startswith("TYPE_") and isinstance(v, int)}
    return names.get(field.type, str(field.type))


def check_avro_bytes(schema: Any, data: bytes) -> tuple[str, Any]:
    """("", datum) when the bytes are exactly one datum of the Avro schema."""
    import fastavro

    stream = io.BytesIO(data)
    try:
        value = fastavro.schemaless_reader(stream, schema.fast, None)
    except Exception as exc:  # fastavro raises EOFError, IndexError, ValueError, ...
        return f"not a valid {_avro_name(schema)}: {type(exc).__name__}: {exc}"[:300], None
    if stream.tell() != len(data):
        return (f"{len(data) - stream.tell()} byte(s) left over after one "
                f"{_avro_name(schema)}"), None
    return "", value


def _avro_name(schema: Any) -> str:
    value = schema.json
    return str(value.get("name", "datum")) if isinstance(value, dict) else "datum"


def encode_payload(registry: SchemaRegistry, message_type: str, version: int, value: Any, *,
                   message: str | None = None) -> dict[str, Any]:
    """A binary payload object for ``value`` (a dict with the schema's field names)."""
    import fastavro

    from harness.contracts.compat.proto_codec import encode

    sv = registry.get(message_type, version)
    schema = _schema(sv, registry.root)
    if sv.format == "protobuf":
        data = encode(schema, value, message)
        kind = PROTOBUF_TYPES[0]
    elif sv.format == "avro":
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema.fast, value)
        data, kind = out.getvalue(), AVRO_TYPES[0]
    else:
        raise ValueError(f"{message_type} v{version} is a JSON Schema subject")
    payload = {"content_type": kind, "schema": f"{message_type}@{version}",
               "data": base64.b64encode(data).decode("ascii")}
    if message:
        payload["message"] = message
    return payload


def decode_payload(registry: SchemaRegistry, message_type: str, version: int,
                   payload: Any) -> Any:
    """The decoded value of a binary payload (validated first)."""
    return validate_binary(registry, registry.get(message_type, version), payload)


class BinaryValidator:
    """A jsonschema-validator-like object for a .proto/.avsc version (``is_valid``,
    ``iter_errors``), so code written for JSON validators checks binary payloads too."""

    def __init__(self, registry: SchemaRegistry, sv: SchemaVersion) -> None:
        self.registry = registry
        self.sv = sv

    def is_valid(self, payload: Any) -> bool:
        return next(self.iter_errors(payload), None) is None

    def iter_errors(self, payload: Any) -> Any:
        try:
            validate_binary(self.registry, self.sv, payload)
        except ValidationFailed as exc:
            yield exc
