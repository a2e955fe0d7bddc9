"""Engine pieces: Java hash order, explanations, public API, $ref handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts.compat import ALL_TYPES, LENIENT, STRICT, check_compatibility
from harness.contracts.compat.differences import Difference
from harness.contracts.compat.explain import explain, fixes
from harness.contracts.compat.javaorder import (
    hashmap_order,
    hashset_union_order,
    java_string_hash,
)
from harness.errors import SchemaError


def test_java_string_hash_matches_java() -> None:
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112
    assert java_string_hash("") == 0
    assert java_string_hash("polygenelubricants") == (-2147483648) & 0xFFFFFFFF


def test_hash_order_is_bucket_order_then_insertion() -> None:
    assert hashmap_order(["foo", "bar"]) == ["bar", "foo"]
    assert hashmap_order(["Aa", "BB"]) == ["Aa", "BB"]
    assert hashmap_order(["BB", "Aa"]) == ["BB", "Aa"]
    assert hashset_union_order(["foo"], ["bar", "foo"]) == ["bar", "foo"]
    many = [f"field_{i}" for i in range(20)]
    assert sorted(hashmap_order(many)) == sorted(many)


def test_policy_sets() -> None:
    assert len(ALL_TYPES) == 132 and len(set(ALL_TYPES)) == 132
    assert len(STRICT) == 65 and STRICT < LENIENT and len(LENIENT - STRICT) == 9
    assert "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" in LENIENT - STRICT


def test_every_type_has_an_explanation_and_fixes() -> None:
    for kind in ALL_TYPES:
        diff = Difference(kind, "#/properties/amount/maximum")
        for direction in ("backward", "forward"):
            message = explain(diff, direction=direction, compatible=kind in STRICT)
            assert message and "{" not in message
        assert any("major version" in fix for fix in fixes(diff))


def test_forward_witness_is_written_by_the_new_schema() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}},
           "additionalProperties": False}
    new = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
           "additionalProperties": False}
    result = check_compatibility(old, new, "FORWARD")
    assert not result.compatible
    assert result.witness is not None
    assert (result.witness.writer, result.witness.reader) == ("new", "old")
    assert "b" in result.witness.payload


@pytest.mark.parametrize(("schema", "expected"), [
    ({"$ref": "#"}, "$ref loops on itself"),
    ({"properties": {"a": {"$ref": "#/definitions/missing"}}}, "#/properties/a/$ref"),
    ({"properties": {"a": {"$ref": "#anchor"}}}, "no anchor"),
    ({"type": "object", "properties": 3}, "#/properties"),
    ({"properties": {"a": {"items": [{"type": "strin"}]}}}, "#/properties/a/items/0/type"),
    ({"definitions": {"x": {"minLength": -1}}}, "#/definitions/x/minLength"),
])
def test_bad_schemas_raise_schema_error_naming_the_place(schema: dict, expected: str) -> None:
    with pytest.raises(SchemaError, match=r"^new: ") as info:
        check_compatibility({"type": "object"}, schema)
    assert expected in str(info.value)


def test_anchor_and_id_refs_resolve() -> None:
    old = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "properties": {"a": {"$ref": "#amount"}},
           "$defs": {"x": {"$anchor": "amount", "type": "integer"}}}
    new = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "properties": {"a": {"$ref": "urn:money#/$defs/m"}},
           "$defs": {"money": {"$id": "urn:money", "$defs": {"m": {"type": "number"}}}}}
    result = check_compatibility(old, new)
    assert [f"{c.type} {c.path}" for c in result.changes] == ["TYPE_EXTENDED #/properties/a"]
    assert result.compatible


def test_the_bundled_registry_is_not_the_package_folder_once_bytecode_is_written(
        tmp_path: Path) -> None:
    """harness/contracts/__pycache__/verify.cpython-311.pyc matched the old "*/v*.*" test, so
    with bytecode written the package's own folder was taken for the registry."""
    from harness.contracts.registry import registry_beside

    package = tmp_path / "src" / "harness" / "contracts"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__pycache__" / "verify.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "contracts" / "payment.accepted").mkdir(parents=True)
    (tmp_path / "contracts" / "payment.accepted" / "v1.json").write_text("{}")
    assert registry_beside(package / "registry.py") == tmp_path / "contracts"
