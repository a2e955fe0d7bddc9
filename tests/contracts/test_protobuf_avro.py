"""Protobuf and Avro through the registry and the CLI; Avro's schema-resolution rules."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.contracts.compat.avro_check import check_avro, load_avro
from harness.contracts.compat.proto_check import check_proto
from harness.contracts.compat.proto_load import load_proto
from harness.contracts.compat.registry_check import check_registry
from harness.contracts.registry import SchemaRegistry
from tests.shared import shared_path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "protobuf" / "contracts"
RENAMED = ROOT / "tests" / "data" / "proto" / "renamed" / "v3.proto"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    target = tmp_path / "contracts"
    shutil.copytree(EXAMPLE, target)
    return target


def test_example_registry_is_compatible() -> None:
    verdicts = check_registry(SchemaRegistry(EXAMPLE))
    assert {v.subject: v.compatible for v in verdicts} == {
        "money": True, "payment.scored": True, "payment.transaction": True}
    assert next(v for v in verdicts if v.subject == "payment.transaction").pairs_checked == 1


def test_risk_rename_in_proto_is_caught(registry: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(RENAMED, registry / "payment.transaction" / "v3.proto")
    assert main(["registry", "check", str(registry), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    subject = next(s for s in report["subjects"] if s["subject"] == "payment.transaction")
    violation = subject["violations"][0]
    assert (violation["version"], violation["against"]) == (3, 2)  # FULL_TRANSITIVE, newest
    types = [c["type"] for c in violation["changes"]]
    assert "FIELD_SCALAR_KIND_CHANGED" in types
    assert violation["renames"][0]["from"] == "risk_level"
    assert violation["renames"][0]["to"] == "risk_score"
    assert "risk_level='LOW'" in violation["witness"]["error"]


def test_pure_rename_only_wire_json_catches(tmp_path: Path) -> None:
    old = 'syntax = "proto3"; message M { string risk_level = 1; }'
    new = 'syntax = "proto3"; message M { string risk_score = 1; }'
    a, b = load_proto(old), load_proto(new)
    assert check_proto(a, b).compatible
    assert check_proto(a, b, policy="wire").compatible
    result = check_proto(a, b, policy="wire_json")
    assert not result.compatible
    assert {c.type for c in result.changes} == {"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"}
    assert [(r.old_name, r.new_name) for r in result.renames] == [("risk_level", "risk_score")]


def test_wire_needs_reserved_numbers() -> None:
    old = 'syntax = "proto3"; message M { string a = 1; int32 b = 2; }'
    gone = 'syntax = "proto3"; message M { string a = 1; }'
    kept = 'syntax = "proto3"; message M { string a = 1; reserved 2; reserved "b"; }'
    assert check_proto(load_proto(old), load_proto(gone)).compatible  # Confluent allows it
    wire = check_proto(load_proto(old), load_proto(gone), policy="wire")
    assert [c.type for c in wire.changes] == ["FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"]
    assert check_proto(load_proto(old), load_proto(kept), policy="wire_json").compatible


def test_bad_proto_is_one_line_exit_2(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "v1.proto"
    good.write_text('syntax = "proto3";\nmessage M { string a = 1; }\n')
    bad = tmp_path / "v2.proto"
    bad.write_text('syntax = "proto3";\nmessage M {\n  Missing a = 1;\n}\n')
    assert main(["compat", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "v2.proto" in err[0] and "3:3" in err[0] and "Missing" in err[0]


def test_avro_jsonl_and_bad_line(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    new = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    lines = [json.dumps({"old": old, "new": new}), json.dumps({"old": new, "new": old}),
             json.dumps({"old": old, "new": {"type": "record", "name": "R"}, "format": "avro"})]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["compat", "--jsonl"]) == 2
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["compatible"] is True
    assert out[1]["compatible"] is False
    assert out[1]["changes"][0]["type"] == "TYPE_MISMATCH"
    assert out[1]["witness"]["payload"]["encoding"] == "avro"
    assert "line 3" in out[2]["error"] or ":3" in out[2]["error"]


def test_apicurio_avro_corpus() -> None:
    data = json.loads(shared_path("corpora", "apicurio-avro",
                                  "compatibility-test-data.json").read_text())
    for case in data["tests"]:
        old, new = load_avro(case["original"]), load_avro(case["updated"])
        backward = check_avro(old, new, "BACKWARD").compatible
        forward = check_avro(old, new, "FORWARD").compatible
        expected = {"backward": (True, False), "both": (True, True),
                    "none": (False, False)}[case["compatibility"]]
        assert (backward, forward) == expected, case["id"]


def _record(*fields: dict, name: str = "R", **extra: object) -> dict:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


ENUM = {"type": "enum", "name": "E", "symbols": ["A", "B"]}

# (writer, reader, compatible): the Avro specification's "Schema Resolution" rules.
SPEC_CASES = [
    ("int", "long", True), ("int", "float", True), ("int", "double", True),
    ("long", "float", True), ("long", "double", True), ("float", "double", True),
    ("string", "bytes", True), ("bytes", "string", True),
    ("long", "int", False), ("double", "float", False), ("string", "int", False),
    (_record({"name": "a", "type": "int"}), _record({"name": "a", "type": "int"},
                                                   {"name": "b", "type": "int", "default": 1}),
     True),
    (_record({"name": "a", "type": "int"}), _record({"name": "a", "type": "int"},
                                                   {"name": "b", "type": "int"}), False),
    (_record({"name": "a", "type": "int"}, {"name": "b", "type": "int"}),
     _record({"name": "a", "type": "int"}), True),
    (_record({"name": "old", "type": "int"}),
     _record({"name": "new", "type": "int", "aliases": ["old"]}), True),
    (_record({"name": "a", "type": "int"}, name="Old"),
     _record({"name": "a", "type": "int"}, name="New", aliases=["Old"]), True),
    (_record({"name": "a", "type": "int"}, name="Old"),
     _record({"name": "a", "type": "int"}, name="New"), False),
    (ENUM, {**ENUM, "symbols": ["A", "B", "C"]}, True),
    (ENUM, {**ENUM, "symbols": ["A"]}, False),
    (ENUM, {**ENUM, "symbols": ["A"], "default": "A"}, True),
    ("int", ["null", "long"], True), (["null", "int"], ["null", "int", "string"], True),
    (["null", "int", "string"], ["null", "int"], False), (["int"], "long", True),
    ({"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 8}, False),
    ({"type": "array", "items": "int"}, {"type": "array", "items": "long"}, True),
    ({"type": "map", "values": "long"}, {"type": "map", "values": "int"}, False),
]


@pytest.mark.parametrize(("writer", "reader", "compatible"), SPEC_CASES)
def test_avro_resolution_rules(writer: object, reader: object, compatible: bool) -> None:
    result = check_avro(load_avro(writer), load_avro(reader))
    assert result.compatible is compatible
    if not compatible:
        assert result.changes
        if result.witness is not None:
            assert result.witness.payload["encoding"] == "avro"


def test_avro_witnesses_are_real_for_each_kind() -> None:
    found = 0
    for writer, reader, compatible in SPEC_CASES:
        if compatible:
            continue
        result = check_avro(load_avro(writer), load_avro(reader))
        found += result.witness is not None
    assert found >= 7


def _msg(body: str, extra: str = "") -> str:
    return f'syntax = "proto3";\npackage p;\n{extra}\nmessage M {{\n{body}\n}}\n'


E = "enum E { E0 = 0; E1 = 1; }"
F = "enum F { F0 = 0; F1 = 1; }"
# (old body, new body, confluent ok, wire rules, wire_json rules)
BUF_CASES = [
    ("int32 a = 1;", "int64 a = 1;", True, [], ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
    ("int32 a = 1;", "uint32 a = 1;", True, [], []),
    ("int32 a = 1;", "sint32 a = 1;", False, ["FIELD_WIRE_COMPATIBLE_TYPE"],
     ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
    ("string a = 1;", "bytes a = 1;", True, [], ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
    ("bytes a = 1;", "string a = 1;", True, ["FIELD_WIRE_COMPATIBLE_TYPE"],
     ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
    ("fixed32 a = 1;", "sfixed32 a = 1;", True, [], ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
    ("optional int32 a = 1;", "repeated int32 a = 1;", False,
     ["FIELD_WIRE_COMPATIBLE_CARDINALITY"], ["FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"]),
    # Confluent compares labels only when both sides write one (proto3 implicit: none)
    ("int32 a = 1;", "repeated int32 a = 1;", True, ["FIELD_WIRE_COMPATIBLE_CARDINALITY"],
     ["FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"]),
    ("int32 a = 1; int32 b = 2;", "oneof o { int32 a = 1; } int32 b = 2;", True,
     ["FIELD_SAME_ONEOF"], ["FIELD_SAME_ONEOF"]),
    ("int32 a = 1;", "int32 a = 1 [json_name = \"alpha\"];", True, [],
     ["FIELD_SAME_JSON_NAME"]),
    ("E a = 1;", "F a = 1;", True, [], ["FIELD_WIRE_JSON_COMPATIBLE_TYPE"]),
]


@pytest.mark.parametrize(("old", "new", "confluent", "wire", "wire_json"), BUF_CASES)
def test_buf_rule_sets(old: str, new: str, confluent: bool, wire: list[str],
                       wire_json: list[str]) -> None:
    a, b = load_proto(_msg(old, f"{E}\n{F}")), load_proto(_msg(new, f"{E}\n{F}"))
    assert check_proto(a, b).compatible is confluent
    for policy, expected in (("wire", wire), ("wire_json", wire_json)):
        result = check_proto(a, b, policy=policy, witness=False)
        assert [c.type for c in result.changes] == expected, policy
        assert result.compatible is (not expected)


def test_avro_transitive_chain_and_mixed_formats(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    subject = tmp_path / "contracts" / "scored"
    subject.mkdir(parents=True)
    field = {"name": "b", "type": "int", "default": 0}
    versions = [_record({"name": "a", "type": "int"}),
                _record({"name": "a", "type": "int"}, field),  # adds b with a default
                _record({"name": "a", "type": "int"}, {"name": "b", "type": "int"})]  # drops it
    for n, schema in enumerate(versions, start=1):
        (subject / f"v{n}.avsc").write_text(json.dumps(schema))
    (subject / "subject.yaml").write_text("compatibility: BACKWARD\n")
    [plain] = check_registry(SchemaRegistry(tmp_path / "contracts"))
    assert plain.compatible and plain.pairs_checked == 2  # v3 reads v2 data (b is there)
    (subject / "subject.yaml").write_text("compatibility: BACKWARD_TRANSITIVE\n")
    [transitive] = check_registry(SchemaRegistry(tmp_path / "contracts"))
    assert [(v.version, v.against) for v in transitive.violations] == [(3, 1)]
    assert transitive.violations[0].result.changes[0].type == \
        "READER_FIELD_MISSING_DEFAULT_VALUE"
    (subject / "v4.proto").write_text('syntax = "proto3"; message M { int32 a = 1; }')
    assert main(["registry", "check", str(tmp_path / "contracts")]) == 2
    assert "mixes schema formats" in capsys.readouterr().err
