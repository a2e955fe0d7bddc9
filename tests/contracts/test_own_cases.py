"""Cases the Confluent corpora do not cover: closed/open models, enums, uniqueItems, limits."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from harness.contracts.compat import check_compatibility


def _changes(result) -> list[str]:
    return [f"{c.type} {c.path}" for c in result.changes]


def _assert_witness(result, old: Any, new: Any) -> None:
    assert result.witness is not None
    payload = result.witness.payload
    writer, reader = (old, new) if result.witness.writer == "old" else (new, old)
    assert jsonschema.Draft7Validator(writer).is_valid(payload)
    assert not jsonschema.Draft7Validator(reader).is_valid(payload)


CLOSED_OLD = {"type": "object", "additionalProperties": False,
              "properties": {"id": {"type": "string"}, "note": {"type": "string"}}}
CLOSED_NEW = {"type": "object", "additionalProperties": False,
              "properties": {"id": {"type": "string"}}}


def test_property_removed_from_closed_model() -> None:
    strict = check_compatibility(CLOSED_OLD, CLOSED_NEW)
    assert _changes(strict) == ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/note"]
    assert not strict.compatible
    _assert_witness(strict, CLOSED_OLD, CLOSED_NEW)
    assert "note" in strict.witness.payload
    assert check_compatibility(CLOSED_OLD, CLOSED_NEW, policy="lenient").compatible


def test_property_removed_from_open_model_is_fine() -> None:
    old = {**CLOSED_OLD, "additionalProperties": True}
    new = {**CLOSED_NEW, "additionalProperties": True}
    result = check_compatibility(old, new)
    assert _changes(result) == ["PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/note"]
    assert result.compatible and result.witness is None


@pytest.mark.parametrize("policy", ["strict", "lenient"])
def test_required_property_added_to_open_model(policy: str) -> None:
    old = {"type": "object", "properties": {"id": {"type": "string"}}}
    new = {"type": "object", "properties": {"id": {"type": "string"},
                                            "tenant": {"type": "string"}},
           "required": ["tenant"]}
    result = check_compatibility(old, new, policy=policy)
    assert _changes(result) == ["REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL "
                                "#/properties/tenant"]
    assert not result.compatible
    _assert_witness(result, old, new)
    assert any("default" in fix for c in result.changes for fix in c.fixes)


def test_required_property_with_default_added_to_open_model_is_lenient_only() -> None:
    old = {"type": "object", "properties": {"id": {"type": "string"}}}
    new = {"type": "object", "required": ["tenant"],
           "properties": {"id": {"type": "string"},
                          "tenant": {"type": "string", "default": "main"}}}
    assert _changes(check_compatibility(old, new)) == [
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL #/properties/tenant"]
    assert not check_compatibility(old, new).compatible
    assert check_compatibility(old, new, policy="lenient").compatible


def test_enum_narrowed() -> None:
    old = {"enum": ["low", "medium", "high"]}
    new = {"enum": ["low", "high"]}
    result = check_compatibility(old, new)
    assert _changes(result) == ["ENUM_ARRAY_NARROWED #/enum"]
    assert not result.compatible
    _assert_witness(result, old, new)
    assert result.witness.payload == "medium"
    assert check_compatibility(new, old).compatible


def test_typed_enum_narrowed_is_explained() -> None:
    old = {"type": "string", "enum": ["low", "medium", "high"]}
    new = {"type": "string", "enum": ["low", "high"]}
    result = check_compatibility(old, new)
    assert not result.compatible
    assert "removed from the enum" in result.changes[0].message
    assert result.witness is not None and result.witness.payload == "medium"


def test_unique_items_added() -> None:
    old = {"type": "array", "items": {"type": "string"}}
    new = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    result = check_compatibility(old, new)
    assert _changes(result) == ["UNIQUE_ITEMS_ADDED #/uniqueItems"]
    assert not result.compatible
    _assert_witness(result, old, new)
    assert check_compatibility(new, old).compatible


@pytest.mark.parametrize(("old", "new", "expected", "compatible"), [
    ({"exclusiveMinimum": 0}, {"exclusiveMinimum": 1}, "EXCLUSIVE_MINIMUM_INCREASED", False),
    ({"exclusiveMinimum": 1}, {"exclusiveMinimum": 0}, "EXCLUSIVE_MINIMUM_DECREASED", True),
    ({}, {"exclusiveMinimum": 0}, "EXCLUSIVE_MINIMUM_ADDED", False),
    ({"exclusiveMinimum": 0}, {}, "EXCLUSIVE_MINIMUM_REMOVED", True),
    ({"exclusiveMaximum": 10}, {"exclusiveMaximum": 5}, "EXCLUSIVE_MAXIMUM_DECREASED", False),
    ({"exclusiveMaximum": 5}, {"exclusiveMaximum": 10}, "EXCLUSIVE_MAXIMUM_INCREASED", True),
    ({}, {"exclusiveMaximum": 10}, "EXCLUSIVE_MAXIMUM_ADDED", False),
    ({"exclusiveMaximum": 10}, {}, "EXCLUSIVE_MAXIMUM_REMOVED", True),
])
def test_exclusive_limits(old: dict, new: dict, expected: str, compatible: bool) -> None:
    old_schema, new_schema = {"type": "number", **old}, {"type": "number", **new}
    keyword = "exclusiveMinimum" if "MINIMUM" in expected else "exclusiveMaximum"
    result = check_compatibility(old_schema, new_schema)
    assert _changes(result) == [f"{expected} #/{keyword}"]
    assert result.compatible is compatible
    if not compatible:
        _assert_witness(result, old_schema, new_schema)


def test_draft4_boolean_exclusive_maximum_is_a_tightening() -> None:
    old = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number",
           "maximum": 10}
    new = {**old, "exclusiveMaximum": True}
    result = check_compatibility(old, new)
    assert _changes(result) == ["EXCLUSIVE_MAXIMUM_ADDED #/exclusiveMaximum"]
    assert not result.compatible
    assert result.witness is not None and result.witness.payload == 10
    assert check_compatibility(new, old).compatible


RISK_OLD = {"type": "object", "required": ["id", "risk_level"],
            "properties": {"id": {"type": "string"},
                           "risk_level": {"type": "string", "enum": ["low", "high"]}}}


def _renamed(schema: dict, closed: bool) -> dict:
    props = {("risk_score" if k == "risk_level" else k): v
             for k, v in schema["properties"].items()}
    required = ["risk_score" if k == "risk_level" else k for k in schema["required"]]
    out = {**schema, "properties": props, "required": required}
    if closed:
        out["additionalProperties"] = False
    return out


@pytest.mark.parametrize("closed", [False, True], ids=["open", "closed"])
def test_rename_is_named_and_still_incompatible(closed: bool) -> None:
    old = {**RISK_OLD, "additionalProperties": False} if closed else RISK_OLD
    new = _renamed(RISK_OLD, closed)
    result = check_compatibility(old, new)
    assert not result.compatible
    assert [r.message for r in result.renames] == ["renamed risk_level -> risk_score"]
    assert result.to_dict()["renames"][0]["from"] == "risk_level"
    assert all("renamed risk_level -> risk_score" in c.message for c in result.changes)
    _assert_witness(result, old, new)


def test_optional_rename_in_open_model_is_named() -> None:
    old = {"type": "object", "properties": {"risk_level": {"type": "integer"}}}
    new = {"type": "object", "properties": {"risk_score": {"type": "integer"}}}
    result = check_compatibility(old, new)
    assert [(r.old_name, r.new_name) for r in result.renames] == [("risk_level", "risk_score")]
    assert not result.compatible
    _assert_witness(result, old, new)


def test_rename_pairs_need_the_same_shape() -> None:
    old = {"type": "object", "properties": {"risk_level": {"type": "string"}}}
    new = {"type": "object", "properties": {"risk_score": {"type": "number"}}}
    assert check_compatibility(old, new).renames == []


def test_several_renames_pair_by_shape_then_name() -> None:
    old = {"type": "object", "additionalProperties": False, "properties": {
        "first_name": {"type": "string"}, "last_name": {"type": "string"},
        "age": {"type": "integer"}}}
    new = {"type": "object", "additionalProperties": False, "properties": {
        "given_name": {"type": "string", "title": "Given"}, "surname": {"type": "string"},
        "age_years": {"type": "integer"}}}
    pairs = {(r.old_name, r.new_name) for r in check_compatibility(old, new).renames}
    assert ("age", "age_years") in pairs
    assert len(pairs) == 3
    assert {o for o, _ in pairs} == {"first_name", "last_name", "age"}


def test_nested_rename_names_its_object() -> None:
    old = {"type": "object", "properties": {"order": {"type": "object", "properties": {
        "amount_cents": {"type": "integer"}}, "additionalProperties": False}}}
    new = {"type": "object", "properties": {"order": {"type": "object", "properties": {
        "amount_minor": {"type": "integer"}}, "additionalProperties": False}}}
    result = check_compatibility(old, new)
    assert [r.to_dict()["path"] for r in result.renames] == ["#/properties/order"]
    assert "in #/properties/order" in result.renames[0].message


def test_forward_and_full_modes() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}}
    new = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert not check_compatibility(old, new, "BACKWARD").compatible
    forward = check_compatibility(old, new, "FORWARD")
    assert forward.compatible
    assert [c.direction for c in forward.changes] == ["forward"]
    full = check_compatibility(old, new, "FULL")
    assert not full.compatible
    assert {c.direction for c in full.changes} == {"backward", "forward"}
    none = check_compatibility(old, new, "NONE")
    assert none.compatible and none.changes == [] and none.witness is None


def test_ref_names_do_not_matter_and_are_resolved() -> None:
    old = {"type": "object", "properties": {"m": {"$ref": "#/definitions/money"}},
           "definitions": {"money": {"type": "integer", "minimum": 0}}}
    new = {"type": "object", "properties": {"m": {"$ref": "#/$defs/amount"}},
           "$defs": {"amount": {"type": "integer", "minimum": 1}}}
    result = check_compatibility(old, new)
    assert [f"{c.type} {c.path}" for c in result.changes] == [
        "MINIMUM_INCREASED #/properties/m/minimum"]
    assert result.witness is not None and result.witness.payload == {"m": 0}


def test_unknown_mode_and_policy_are_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        check_compatibility({}, {}, "SIDEWAYS")
    with pytest.raises(ValueError, match="policy"):
        check_compatibility({}, {}, policy="loose")
