"""A file-based schema registry.

Layout (one folder per subject, i.e. per message type)::

    contracts/
      payment.requested/
        subject.yaml      compatibility: BACKWARD   (optional; BACKWARD by default)
                          policy: strict            (optional; strict or lenient)
        v1.json           a JSON Schema (draft 04, 06, 07 or 2020-12)
        v2.json
      payment.proto/
        v1.proto          a Protobuf schema (imports: "money/v1.proto", from the root)
      payment.avro/
        v1.avsc           an Avro schema

Every version is checked against its draft's meta-schema when the registry is loaded (so every
command refuses ``"type": "strng"`` with exit 2), and subject.yaml against
``harness/schemas/subject.schema.json`` (docs/formats/subject.md).

Other files in a subject folder (pacts, notes) are ignored. ``$ref`` to another registry file is
written relative to the referring file (``"../money/v1.json#/definitions/amount"``) and resolved
against the registry root.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import SchemaError as JsonSchemaSchemaError
from jsonschema.exceptions import best_match, relevance
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from harness.contracts.compiled import compiled, fast_valid
from harness.contracts.ecma import ecma_validator_class
from harness.errors import InputError, SchemaError, ValidationFailed

__all__ = ["MODES", "SchemaRegistry", "SchemaVersion", "Subject", "check_meta_schema",
           "default_registry_path"]

MODES = (
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
)
POLICIES = ("strict", "lenient", "wire", "wire_json")
#: errors read to name an invalid payload's first failing field (smallest path among them)
_ERRORS_SEEN = 100
_VERSION_FILE = re.compile(r"^v(\d+)\.(json|proto|avsc)$")


def default_registry_path() -> Path:
    """The bundled ``contracts/`` folder (next to the package in a source checkout)."""
    return registry_beside(Path(__file__).resolve())


def registry_beside(here: Path) -> Path:
    """The nearest ``contracts/`` folder above ``here`` that holds subject folders with
    version files, else ``./contracts``."""
    for parent in here.parents:
        candidate = parent / "contracts"
        # a subject folder holding a version file (v1.json...): not this package's own
        # folder, whose __pycache__ holds verify.cpython-311.pyc once bytecode is written
        if candidate.is_dir() and any(_VERSION_FILE.match(f.name)
                                      for f in candidate.glob("*/v*.*")):
            return candidate
    return Path.cwd() / "contracts"


#: a schema file larger than this is refused before it is read (override:
#: HARNESS_MAX_SCHEMA_BYTES); real schemas are kilobytes
MAX_SCHEMA_BYTES = int(os.environ.get("HARNESS_MAX_SCHEMA_BYTES", str(8 * 1024 * 1024)))


def read_schema_text(path: Path) -> str:
    """A schema file's text, refusing one over ``MAX_SCHEMA_BYTES`` before reading it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise SchemaError("no such file", where=str(path)) from exc
    if size > MAX_SCHEMA_BYTES:
        raise SchemaError(f"{size} bytes is over the {MAX_SCHEMA_BYTES}-byte limit for a schema "
                          "file (HARNESS_MAX_SCHEMA_BYTES)", where=str(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"not UTF-8 at byte {exc.start}", where=str(path)) from exc


def load_json_file(path: Path) -> Any:
    """Load a JSON file, raising SchemaError naming the file, line and column."""
    try:
        text = read_schema_text(path)
    except FileNotFoundError as exc:
        raise SchemaError("no such file", where=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"not UTF-8 at byte {exc.start}", where=str(path)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          where=str(path)) from exc


def _load_subject_file(path: Path) -> dict[str, Any]:
    """subject.yaml, checked against harness/schemas/subject.schema.json."""
    from harness.pipeline import load_yaml_with_lines
    from harness.schemas import check_document, strip_lines

    try:
        meta = load_yaml_with_lines(path)
    except InputError as exc:
        raise SchemaError(str(exc).removeprefix(f"{exc.where}: "), where=exc.where) from exc
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise SchemaError("expected a mapping (compatibility, policy)", where=str(path))
    check_document(meta, "subject", path, error=SchemaError)
    clean: dict[str, Any] = strip_lines(meta)
    return clean


def check_meta_schema(schema: Any, path: Path) -> None:
    """Check a schema against the meta-schema of its draft (``$schema``; draft 7 by default).

    Raises:
        SchemaError: naming the file and the schema keyword that is wrong.
    """
    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"not a JSON Schema: a {type(schema).__name__}, not an object",
                          where=str(path))
    from harness.contracts.compat.loading import schema_class

    cls = schema_class(schema, str(path))
    meta = _META_VALIDATORS.get(cls)
    if meta is None:
        meta = validators.validator_for(cls.META_SCHEMA)(cls.META_SCHEMA)
        _META_VALIDATORS[cls] = meta
    # the best of the first 100 errors: 10,000 bad properties must not cost seconds
    error = best_match(itertools.islice(meta.iter_errors(schema), 100), key=relevance)
    if error is not None:
        pointer = "#/" + "/".join(str(p) for p in error.path)
        raise SchemaError(f"not a valid JSON Schema at {pointer}: {error.message[:300]}",
                          where=str(path))


_META_VALIDATORS: dict[Any, Any] = {}


@dataclass(frozen=True)
class SchemaVersion:
    """One schema version of a subject."""

    subject: str
    version: int
    path: Path
    schema: Any

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()

    @cached_property
    def format(self) -> str:  # cached: read on every validation (each hop, twice)
        """"json", "protobuf" (.proto) or "avro" (.avsc)."""
        return {".proto": "protobuf", ".avsc": "avro"}.get(self.path.suffix, "json")


@dataclass
class Subject:
    """A message type with its versions and compatibility settings."""

    name: str
    path: Path
    compatibility: str = "BACKWARD"
    policy: str = "strict"
    versions: dict[int, SchemaVersion] = field(default_factory=dict)

    @property
    def latest(self) -> int:
        return max(self.versions)

    def chain(self) -> list[SchemaVersion]:
        """Versions in ascending order."""
        return [self.versions[v] for v in sorted(self.versions)]


class SchemaRegistry:
    """Look up and validate against the schemas in a registry folder.

    Args:
        root: the registry folder (``contracts/``).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_registry_path()
        if not self.root.is_dir():
            raise SchemaError("registry folder not found", where=str(self.root))
        self.subjects: dict[str, Subject] = {}
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            subject = self._load_subject(folder)
            if subject.versions:
                self.subjects[subject.name] = subject
        self._validators: dict[tuple[str, int], Any] = {}

    def _load_subject(self, folder: Path) -> Subject:
        subject = Subject(name=folder.name, path=folder)
        meta_path = folder / "subject.yaml"
        if meta_path.exists():
            meta = _load_subject_file(meta_path)
            subject.compatibility = str(meta.get("compatibility", "BACKWARD")).upper()
            subject.policy = str(meta.get("policy", "strict")).lower()
        for path in sorted(folder.iterdir()):
            match = _VERSION_FILE.match(path.name)
            if match:
                version = int(match.group(1))
                if version in subject.versions:
                    raise SchemaError(f"v{version} is given twice "
                                      f"({subject.versions[version].path.name}, {path.name})",
                                      where=str(folder))
                if match.group(2) == "proto":
                    schema: Any = read_schema_text(path)
                else:
                    schema = load_json_file(path)
                    if match.group(2) == "json":
                        check_meta_schema(schema, path)
                subject.versions[version] = SchemaVersion(folder.name, version, path, schema)
        return subject

    def __contains__(self, key: tuple[str, int]) -> bool:
        name, version = key
        return name in self.subjects and version in self.subjects[name].versions

    def __iter__(self) -> Iterator[Subject]:
        return iter(self.subjects.values())

    def get(self, message_type: str, version: int) -> SchemaVersion:
        """The schema of (type, version).

        Raises:
            ValidationFailed: with reason ``unknown_type`` or ``unknown_version``.
        """
        subject = self.subjects.get(message_type)
        if subject is None:
            raise ValidationFailed("unknown_type", f"message type {message_type!r} is not in "
                                   f"the registry at {self.root}")
        found = subject.versions.get(version)
        if found is None:
            known = ", ".join(f"v{v}" for v in sorted(subject.versions))
            raise ValidationFailed("unknown_version", f"{message_type} has no version {version} "
                                   f"(known: {known})", path="#/schema_version")
        return found

    @cached_property
    def referencing_registry(self) -> Registry:
        """A ``referencing`` registry that resolves file URIs inside the registry folder."""

        def retrieve(uri: str) -> Resource:
            if not uri.startswith("file://"):
                raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
            from urllib.parse import unquote, urlparse

            path = Path(unquote(urlparse(uri).path))
            try:
                contents = load_json_file(path)
            except SchemaError as exc:
                raise NoSuchResource(ref=uri) from exc  # type: ignore[call-arg]
            return Resource.from_contents(contents, default_specification=DRAFT7)

        return Registry(retrieve=retrieve)  # type: ignore[call-arg]

    def validator(self, message_type: str, version: int) -> Any:
        """A cached jsonschema validator for (type, version), with format checking."""
        key = (message_type, version)
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        sv = self.get(message_type, version)
        if sv.format != "json":
            from harness.contracts.binary import BinaryValidator

            self._validators[key] = BinaryValidator(self, sv)
            return self._validators[key]
        schema = sv.schema
        cls = ecma_validator_class(validators.validator_for(schema,
                                                            default=validators.Draft7Validator))
        try:
            cls.check_schema(schema)
        except JsonSchemaSchemaError as exc:
            raise SchemaError(f"not a valid JSON Schema: {exc.message}",
                              where=str(sv.path)) from exc
        resource = Resource.from_contents(schema, default_specification=DRAFT7)
        registry = self.referencing_registry.with_resource(sv.uri, resource)
        schema_with_id = dict(schema) if isinstance(schema, dict) else schema
        if isinstance(schema_with_id, dict) and "$id" not in schema_with_id:
            schema_with_id["$id"] = sv.uri
        validator = cls(schema_with_id, registry=registry, format_checker=cls.FORMAT_CHECKER)
        self._validators[key] = validator
        return validator

    def prepare(self, message_type: str, version: int) -> None:
        """Build what validating (type, version) needs (validator, compiled .proto/.avsc) now;
        unknown types and versions are left for validation to report."""
        try:
            sv = self.get(message_type, version)
        except ValidationFailed:
            return
        self.validator(message_type, version)
        compiled(self, message_type, version)
        if sv.format != "json":
            from harness.contracts.binary import prepare

            prepare(self, sv)

    def validate(self, message_type: str, version: int, payload: Any) -> None:
        """Validate a payload against (type, version).

        Raises:
            ValidationFailed: reason ``schema_invalid`` naming the first failing field, or
                ``unknown_type`` / ``unknown_version``.
        """
        sv = self.get(message_type, version)
        if sv.format != "json":
            from harness.contracts.binary import validate_binary

            validate_binary(self, sv, payload)
            return
        if fast_valid(self, message_type, version, payload):
            return  # the compiled validator agrees with the Python one on valid (compiled.py)
        validator = self.validator(message_type, version)
        # the first failing field among the first _ERRORS_SEEN errors (all of them, unless a
        # payload fails thousands of times, e.g. 10,000 array items of the wrong type)
        errors = itertools.islice(validator.iter_errors(payload), _ERRORS_SEEN)
        error = min(errors, key=lambda e: e.path, default=None)
        if error is not None:
            pointer = "#/" + "/".join(str(p) for p in error.absolute_path)
            raise ValidationFailed(
                "schema_invalid",
                f"{message_type} v{version} at {pointer}: {error.message[:300]}",
                path=pointer,
            )

    def is_valid(self, message_type: str, version: int, payload: Any) -> bool:
        """True when the payload validates against (type, version)."""
        try:
            if self.get(message_type, version).format == "json":  # no error list to sort
                return fast_valid(self, message_type, version, payload) or \
                    bool(self.validator(message_type, version).is_valid(payload))
            self.validate(message_type, version, payload)
        except ValidationFailed:
            return False
        return True
