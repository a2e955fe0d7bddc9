"""Fuzzing from .proto and .avsc: valid messages drawn from the schema, invalid ones made by
labelled byte and field mutations, each with the verdict the binary validator must give.

``fuzz_schema(path, examples=100, seed=1)`` returns a :class:`SchemaFuzzReport`: every valid
message must decode and validate, every mutation must be classified as its label says
(``reject``: the validator refuses it; ``accept``: it is still a valid message, e.g. an unknown
field, which Protobuf keeps for schema evolution). Same seed, same cases.
"""

from __future__ import annotations

import base64
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contracts.binary import check_avro_bytes, check_protobuf_bytes

__all__ = ["PAYLOAD_OBJECT_SCHEMA", "Mutation", "SchemaFuzzReport", "avro_mutations",
           "fuzz_schema", "payload_strategy", "proto_mutations", "random_proto"]


@dataclass(frozen=True)
class Mutation:
    """A labelled byte string and the verdict the validator must give ("reject"/"accept")."""

    label: str
    data: bytes
    expect: str


@dataclass
class SchemaFuzzReport:
    """Attributes: schema, format, seed, valid (count), mutations (label -> count), failures
    (cases where the validator disagreed with the label: label, hex, problem)."""

    schema: str
    format: str
    seed: int
    valid: int = 0
    mutations: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "format": self.format, "seed": self.seed, "ok": self.ok,
                "valid": self.valid, "mutations": dict(sorted(self.mutations.items())),
                "failures": self.failures[:20]}


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def random_proto(message: Any, rng: random.Random, depth: int = 0) -> Any:
    """Fill a runtime message with seeded random values (some fields left unset)."""
    chosen: set[str] = set()
    for fd in message.DESCRIPTOR.fields:
        if rng.random() < 0.25 or (fd.containing_oneof and fd.containing_oneof.name in chosen):
            continue
        if fd.containing_oneof is not None:
            chosen.add(fd.containing_oneof.name)
        map_entry = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        if fd.message_type is not None and not map_entry:
            if depth < 3:
                target = getattr(message, fd.name)
                random_proto(target.add() if fd.is_repeated else target, rng, depth + 1)
            continue
        if map_entry:
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is None:
                getattr(message, fd.name)[_scalar(key_fd, rng)] = _scalar(value_fd, rng)
            continue
        if fd.is_repeated:
            getattr(message, fd.name).extend(_scalar(fd, rng) for _ in range(rng.randrange(4)))
        else:
            setattr(message, fd.name, _scalar(fd, rng))
    return message


def _scalar(fd: Any, rng: random.Random) -> Any:
    from google.protobuf.descriptor import FieldDescriptor as F

    t = fd.type
    if t == F.TYPE_ENUM:
        return rng.choice([v.number for v in fd.enum_type.values])
    if t == F.TYPE_STRING:
        return "".join(rng.choice("abz09 é€") for _ in range(rng.randrange(12)))
    if t == F.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
    if t == F.TYPE_BOOL:
        return rng.random() < 0.5
    if t in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return float(rng.randint(-10**6, 10**6)) / 4
    bits = 64 if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64,
                       F.TYPE_FIXED64) else 32
    if t in (F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_FIXED32, F.TYPE_FIXED64):
        return rng.randrange(1 << bits)
    return rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))


def _wire_type(fd: Any) -> int:
    from google.protobuf.descriptor import FieldDescriptor as F

    if fd.type in (F.TYPE_DOUBLE, F.TYPE_FIXED64, F.TYPE_SFIXED64):
        return 1
    if fd.type in (F.TYPE_FLOAT, F.TYPE_FIXED32, F.TYPE_SFIXED32):
        return 5
    if fd.type in (F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE) or fd.is_repeated:
        return 2
    return 0


def proto_mutations(valid: bytes, descriptor: Any, rng: random.Random) -> list[Mutation]:
    """Labelled mutations of a valid encoding of ``descriptor``'s message."""
    fields = list(descriptor.fields)
    top = max((f.number for f in fields), default=0)
    out = [
        Mutation("truncated_varint", valid + _tag(rng.choice(fields).number if fields else 1, 0)
                 + b"\x80", "reject"),
        Mutation("truncated_length", valid + _tag(top + 1, 2) + _varint(40) + b"abc", "reject"),
        Mutation("field_number_zero", valid + _tag(0, 0) + b"\x01", "reject"),
        Mutation("unknown_field", valid + _tag(top + 100, 0) + _varint(rng.randrange(1, 999)),
                 "accept"),
    ]
    if valid:
        cut = rng.randrange(1, len(valid) + 1)
        out.append(Mutation("truncated_message", valid[:-cut], "unknown"))
    scalars = [f for f in fields if f.message_type is None and not f.is_repeated]
    if scalars:
        fd = rng.choice(scalars)
        wrong = next(w for w in (2, 0, 5, 1) if w != _wire_type(fd))
        body = {0: _varint(1), 1: b"\x00" * 8, 2: _varint(3) + b"xyz", 5: b"\x00" * 4}[wrong]
        out.append(Mutation("wrong_wire_type", valid + _tag(fd.number, wrong) + body, "reject"))
    enums = [f for f in fields if f.enum_type is not None and not f.is_repeated]
    if enums:
        fd = rng.choice(enums)
        number = max(v.number for v in fd.enum_type.values) + rng.randrange(1, 1000)
        out.append(Mutation("out_of_range_enum", valid + _tag(fd.number, 0) + _varint(number),
                            "reject"))
    strings = [f for f in fields if f.type == 9 and not f.is_repeated]  # TYPE_STRING
    if strings:
        fd = rng.choice(strings)
        out.append(Mutation("invalid_utf8", valid + _tag(fd.number, 2) + b"\x02\xff\xfe",
                            "reject"))
    return out


def avro_mutations(valid: bytes, schema: dict[str, Any] | Any,
                   rng: random.Random) -> list[Mutation]:
    """Labelled mutations of a valid Avro encoding."""
    out = [Mutation("trailing_bytes", valid + bytes([rng.randrange(256)]), "reject")]
    if valid:
        out.append(Mutation("truncated", valid[:-1], "reject"))
    wider = _with_extra_symbol(schema)
    if wider is not None:  # written by a writer whose enum has one symbol more
        import fastavro

        from harness.fuzz.avro_values import candidates

        parsed = fastavro.parse_schema(wider, _force=True)
        for datum in candidates(wider, limit=500):
            if _EXTRA in repr(datum):
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, parsed, datum)
                out.append(Mutation("out_of_range_enum", buf.getvalue(), "reject"))
                break
    return out


_EXTRA = "HARNESS_FUZZ_UNDECLARED"


def _with_extra_symbol(schema: Any) -> Any:
    """A copy of ``schema`` whose first enum has one more symbol (None: no enum)."""
    import copy

    wider = copy.deepcopy(schema)
    stack = [wider]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if node.get("type") == "enum" and isinstance(node.get("symbols"), list):
                node["symbols"].append(_EXTRA)
                node.pop("default", None)
                return wider
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def fuzz_schema(path: str | Path, *, examples: int = 100, seed: int = 1,
                message: str | None = None, root: Path | None = None) -> SchemaFuzzReport:
    """Valid and mutated messages of a .proto or .avsc file, checked by the binary validator."""
    from harness.contracts.compat.formats import _import_root, load_file

    loaded = load_file(path, root=root if root is not None else _import_root(str(path)))
    rng = random.Random(seed)
    report = SchemaFuzzReport(str(path), loaded.format, seed)
    schema: Any = loaded.schema  # ProtoSchema or AvroSchema, by loaded.format
    for _ in range(examples):
        if loaded.format == "protobuf":
            from harness.contracts.compat.proto_codec import message_class

            cls = message_class(schema, message)
            data = random_proto(cls(), rng).SerializeToString()
            check = lambda raw: check_protobuf_bytes(schema, raw, message)[0]  # noqa: E731
            mutations = proto_mutations(data, cls.DESCRIPTOR, rng)
        elif loaded.format == "avro":
            import fastavro

            from harness.fuzz.avro_values import random_datum

            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema.fast,
                                       random_datum(schema.json, rng))
            data = out.getvalue()
            check = lambda raw: check_avro_bytes(schema, raw)[0]  # noqa: E731
            mutations = avro_mutations(data, schema.json, rng)
        else:
            raise ValueError(f"{path}: fuzz --schema takes a .proto or .avsc file")
        problem = check(data)
        if problem:
            report.failures.append({"label": "valid", "hex": data.hex(), "problem": problem})
        else:
            report.valid += 1
        for m in mutations:
            report.mutations[m.label] += 1
            problem = check(m.data)
            verdict = "reject" if problem else "accept"
            if m.expect != "unknown" and verdict != m.expect:
                report.failures.append({"label": m.label, "hex": m.data.hex(),
                                        "problem": problem or f"accepted, expected {m.expect}",
                                        "b64": base64.b64encode(m.data).decode()})
    return report


#: The binary payload object as a JSON Schema, for the mutation fuzzers that work on dicts.
PAYLOAD_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"content_type": {"type": "string"}, "schema": {"type": "string"},
                   "message": {"type": "string"}, "data": {"type": "string"}},
    "required": ["content_type", "data"],
}


def payload_strategy(registry: Any, message_type: str, version: int,
                     from_json_schema: Any = None) -> Any:
    """A Hypothesis strategy of valid binary payload objects for a .proto/.avsc subject:
    values drawn from its ``v<N>.values.json`` when it has one (``from_json_schema`` builds the
    strategy), else random messages from Hypothesis' own seeded random; encoded with the real
    codec and kept when the registry finds them valid."""
    from hypothesis import strategies as st

    from harness.contracts.binary import _schema, encode_payload, values_path
    from harness.contracts.registry import load_json_file

    sv = registry.get(message_type, version)
    schema = _schema(sv, registry.root)
    rules = values_path(sv)
    if rules.exists() and from_json_schema is not None:
        def encoded(value: Any) -> dict[str, Any] | None:
            try:
                return encode_payload(registry, message_type, version, value)
            except Exception:  # a value the codec cannot carry (the filter drops it)
                return None

        return from_json_schema(load_json_file(rules)).map(encoded).filter(
            lambda p: p is not None and registry.is_valid(message_type, version, p))

    def build(rng: random.Random) -> dict[str, Any]:
        if sv.format == "protobuf":
            from harness.contracts.compat.proto_codec import message_class, to_native

            value = to_native(random_proto(message_class(schema)(), rng))
            return encode_payload(registry, message_type, version, value)
        from harness.fuzz.avro_values import random_datum

        return encode_payload(registry, message_type, version, random_datum(schema.json, rng))

    return st.builds(build, st.randoms(use_true_random=False))
