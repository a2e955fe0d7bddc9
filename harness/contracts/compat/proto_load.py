"""Compile .proto files with the real compiler (protoc from grpcio-tools) into a small model.

``load_proto(text, ...)`` and ``load_proto_file(path, root=...)`` return a :class:`ProtoSchema`:
the root file's messages and enums (map-entry messages folded into ``map`` fields) plus every
type of every imported file, each tagged with the reference (subject, version) it came from.
Compiler errors become one :class:`SchemaError` line naming the file, line and column.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.resources
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from harness.errors import SchemaError

__all__ = ["ProtoEnum", "ProtoField", "ProtoMessage", "ProtoSchema", "TypeInfo", "compile_set",
           "load_proto", "load_proto_file"]

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {v: k.removeprefix("TYPE_").lower() for k, v in _FDP.Type.items()}
_LOCK = threading.Lock()
_SOURCES_LOCK = threading.Lock()
_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CACHE_SIZE = 256
ROOT_REF: tuple[str, int] = ("", -1)
#: Confluent's own imports (confluent/meta.proto, confluent/type/decimal.proto), as the harness
#: defines them; searched after the schema's folder and the well-known types.
_INCLUDE = Path(__file__).resolve().parent / "proto_include"


@dataclass
class ProtoField:
    """One field. ``kind`` is scalar, enum, message or map; ``label`` as written (or None)."""

    name: str
    number: int
    kind: str
    type: str
    label: str | None
    oneof: str | None
    json_name: str
    key: ProtoField | None = None
    value: ProtoField | None = None
    default: str | None = None


@dataclass
class ProtoEnum:
    """An enum: constants as (name, number) in declaration order."""

    name: str
    full_name: str
    values: list[tuple[str, int]]
    reserved_names: set[str] = field(default_factory=set)
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ProtoMessage:
    """A message: fields in declaration order, real oneofs, nested types (no map entries)."""

    name: str
    full_name: str
    fields: list[ProtoField]
    oneofs: list[str]
    messages: list[ProtoMessage]
    enums: list[ProtoEnum]
    reserved_names: set[str] = field(default_factory=set)
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)

    def reserves(self, number: int) -> bool:
        return any(lo <= number < hi for lo, hi in self.reserved_ranges)


@dataclass(frozen=True)
class TypeInfo:
    """A named type with the package of its file and the reference it came from."""

    type: ProtoMessage | ProtoEnum
    package: str
    ref: tuple[str, int] | None


@dataclass
class ProtoSchema:
    """A compiled root file and every type it can see."""

    name: str
    package: str
    syntax: str
    messages: list[ProtoMessage]
    enums: list[ProtoEnum]
    types: dict[str, TypeInfo]
    descriptors: bytes = b""

    def message(self, full_name: str | None = None) -> ProtoMessage:
        """A message by full name (no leading dot), or the root file's first message."""
        if full_name is None:
            if not self.messages:
                raise SchemaError("the file declares no message", where=self.name)
            return self.messages[0]
        info = self.types.get(full_name.lstrip("."))
        if info is None or not isinstance(info.type, ProtoMessage):
            raise SchemaError(f"no message {full_name!r}", where=self.name)
        return info.type


@functools.lru_cache(maxsize=1)
def _wkt_dir() -> str:
    return str(importlib.resources.files("grpc_tools") / "_proto")


_WORK: dict[int, Path] = {}


def _work_dir() -> Path:
    """One scratch folder per process (removing a folder per compile costs more than protoc;
    forked workers get their own)."""
    pid = os.getpid()
    path = _WORK.get(pid)
    if path is None:
        path = _WORK[pid] = Path(tempfile.mkdtemp(prefix="harness-protoc-"))
        atexit.register(shutil.rmtree, path, True)
    return path


def compile_set(root_dir: Path, file_name: str, *, where: str) -> bytes:
    """Run protoc on ``file_name`` under ``root_dir``; the serialized FileDescriptorSet."""
    work = _work_dir()
    with _LOCK:
        out = work / "set.pb"
        out.unlink(missing_ok=True)
        args = ["protoc", f"-I{root_dir}", f"-I{_wkt_dir()}", f"-I{_INCLUDE}",
                f"--descriptor_set_out={out}",
                "--include_imports", file_name]
        with open(work / "err.txt", "w+b") as sink:
            saved = os.dup(2)
            try:
                os.dup2(sink.fileno(), 2)
                code = protoc.main(args)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            message = sink.read().decode("utf-8", "replace")
        if code != 0 or not out.exists():
            raise SchemaError(_first_error(message, root_dir) or "protoc failed", where=where)
        return out.read_bytes()


def _first_error(text: str, root_dir: Path) -> str:
    for line in text.splitlines():
        line = line.strip().replace(f"{root_dir}/", "")
        if line and not line.startswith("Warning") and "warning:" not in line:
            return line
    return ""


def load_proto(text: str, *, dependencies: dict[str, str] | None = None,
               references: dict[str, tuple[str, int]] | None = None,
               name: str = "schema.proto", where: str = "schema") -> ProtoSchema:
    """Compile .proto source text with its imports given as ``{import name: text}``.

    Args:
        text: the root file's source.
        dependencies: imported files by import path (well-known types need none).
        references: import path -> (subject, version), as a registry records references.
        name: the root file's import path.
        where: how errors name the schema.
    """
    deps = dict(dependencies or {})
    key = hashlib.sha256(repr((name, text, sorted(deps.items()))).encode()).hexdigest()
    data = _CACHE.get(key)
    if data is None:
        with _SOURCES_LOCK:
            src = _work_dir() / "src"
            written = []
            try:
                for dep_name, dep_text in [*deps.items(), (name, text)]:
                    parts = Path(dep_name).parts
                    if not parts or Path(dep_name).is_absolute() or ".." in parts:
                        raise SchemaError(f"import path {dep_name!r} leaves the schema folder",
                                          where=where)
                    target = src / dep_name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(dep_text, encoding="utf-8")
                    written.append(target)
                data = compile_set(src, name, where=where)
            except SchemaError as exc:
                raise SchemaError(str(exc).removeprefix(f"{where}: "), where=where) from None
            finally:
                for target in written:
                    target.unlink(missing_ok=True)
        _remember(key, data)
    return build(data, name, references or {})


def load_proto_file(path: Path, *, root: Path | None = None,
                    references: dict[str, tuple[str, int]] | None = None) -> ProtoSchema:
    """Compile a .proto file; imports resolve against ``root`` (default: its folder)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        rel = path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        base, rel = path.parent, path.name
    if not path.is_file():
        raise SchemaError("no such file", where=str(path))
    stamp = [(rel, path.stat().st_mtime_ns, path.stat().st_size, str(base.resolve()))]
    key = hashlib.sha256(repr(stamp).encode()).hexdigest()
    data = _CACHE.get(key)
    if data is None:
        data = compile_set(base.resolve(), rel, where=str(path))
        _remember(key, data)
    return build(data, rel, references if references is not None else _registry_refs(data, rel))


def _registry_refs(data: bytes, root_name: str) -> dict[str, tuple[str, int]]:
    """Imports inside a registry (``subject/vN.proto``) are references to (subject, N)."""
    out: dict[str, tuple[str, int]] = {}
    for fd in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        parts = fd.name.split("/")
        if fd.name != root_name and len(parts) == 2 and parts[1][:1] == "v":
            number = parts[1][1:].removesuffix(".proto")
            if number.isdigit():
                out[fd.name] = (parts[0], int(number))
    return out


def _remember(key: str, data: bytes) -> None:
    _CACHE[key] = data
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def build(data: bytes, root_name: str, references: dict[str, tuple[str, int]]) -> ProtoSchema:
    """The model of a serialized FileDescriptorSet whose root file is ``root_name``."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    types: dict[str, TypeInfo] = {}
    root: ProtoSchema | None = None
    for fd in fds.file:
        ref = ROOT_REF if fd.name == root_name else references.get(fd.name)
        entries: dict[str, descriptor_pb2.DescriptorProto] = {}
        _collect_entries(fd.package, fd.message_type, entries)
        messages = [_message(m, fd.package, fd.syntax, entries) for m in fd.message_type]
        enums = [_enum(e, fd.package) for e in fd.enum_type]
        _index(messages, enums, fd.package, ref, types)
        if fd.name == root_name:
            root = ProtoSchema(fd.name, fd.package, fd.syntax or "proto2", messages, enums,
                               types, data)
    if root is None:
        raise SchemaError("the compiler did not return the root file", where=root_name)
    return root


def _collect_entries(prefix: str, messages: object, out: dict) -> None:
    for m in messages:  # type: ignore[attr-defined]
        full = f"{prefix}.{m.name}" if prefix else m.name
        if m.options.map_entry:
            out["." + full] = m
        _collect_entries(full, m.nested_type, out)


def _index(messages: list[ProtoMessage], enums: list[ProtoEnum], package: str,
           ref: tuple[str, int] | None, types: dict[str, TypeInfo]) -> None:
    for m in messages:
        types[m.full_name] = TypeInfo(m, package, ref)
        _index(m.messages, m.enums, package, ref, types)
    for e in enums:
        types[e.full_name] = TypeInfo(e, package, ref)


def _label(fd: descriptor_pb2.FieldDescriptorProto, syntax: str, in_oneof: bool) -> str | None:
    if fd.proto3_optional:
        return "optional"
    if fd.label == _FDP.LABEL_REPEATED:
        return "repeated"
    if in_oneof or syntax not in ("", "proto2"):
        return None
    return "required" if fd.label == _FDP.LABEL_REQUIRED else "optional"


def _field(fd: descriptor_pb2.FieldDescriptorProto, syntax: str, oneof: str | None,
           entries: dict) -> ProtoField:
    label = _label(fd, syntax, oneof is not None)
    if fd.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_GROUP) and fd.type_name in entries:
        entry = entries[fd.type_name]
        key, value = (_field(f, syntax, None, entries) for f in entry.field)
        key.label = value.label = None
        return ProtoField(fd.name, fd.number, "map", fd.type_name.lstrip("."), None, oneof,
                          fd.json_name, key, value)
    if fd.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_GROUP):
        kind, type_name = "message", fd.type_name.lstrip(".")
    elif fd.type == _FDP.TYPE_ENUM:
        kind, type_name = "enum", fd.type_name.lstrip(".")
    else:
        kind, type_name = "scalar", _SCALARS[fd.type]
    default = fd.default_value if fd.HasField("default_value") else None
    return ProtoField(fd.name, fd.number, kind, type_name, label, oneof, fd.json_name,
                      default=default)


def _message(m: descriptor_pb2.DescriptorProto, prefix: str, syntax: str,
             entries: dict) -> ProtoMessage:
    full = f"{prefix}.{m.name}" if prefix else m.name
    synthetic = {f.oneof_index for f in m.field if f.proto3_optional}
    oneof_names = [o.name for o in m.oneof_decl]
    fields = []
    for fd in m.field:
        in_oneof = fd.HasField("oneof_index") and fd.oneof_index not in synthetic
        fields.append(_field(fd, syntax, oneof_names[fd.oneof_index] if in_oneof else None,
                             entries))
    nested = [_message(n, full, syntax, entries) for n in m.nested_type
              if not n.options.map_entry]
    return ProtoMessage(m.name, full, fields,
                        [o for i, o in enumerate(oneof_names) if i not in synthetic], nested,
                        [_enum(e, full) for e in m.enum_type], set(m.reserved_name),
                        [(r.start, r.end) for r in m.reserved_range])


def _enum(e: descriptor_pb2.EnumDescriptorProto, prefix: str) -> ProtoEnum:
    full = f"{prefix}.{e.name}" if prefix else e.name
    return ProtoEnum(e.name, full, [(v.name, v.number) for v in e.value], set(e.reserved_name),
                     [(r.start, r.end + 1) for r in e.reserved_range])
