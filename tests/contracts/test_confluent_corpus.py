"""The Confluent corpora: exact differences, verdicts, lenient verdicts, recursion."""

from __future__ import annotations

import io
import json
import sys

import jsonschema
import pytest

from harness.cli import main
from harness.contracts.compat import check_compatibility
from harness.contracts.compat.exemptions import EXEMPTIONS
from tests.contracts.corpus import DIFF_FILES, all_records, load_corpus
from tests.shared import shared_path


@pytest.mark.parametrize("name", DIFF_FILES)
def test_every_record_matches_confluent(name: str) -> None:
    mismatches = []
    for index, record in enumerate(load_corpus(name)):
        result = check_compatibility(record["original_schema"], record["update_schema"],
                                     witness=False)
        changes = [f"{c.type} {c.path}" for c in result.changes]
        if changes != record["changes"] or result.compatible != record["compatible"]:
            mismatches.append((index, record["description"], changes, record["changes"]))
        if "compatible_lenient" in record:
            lenient = check_compatibility(record["original_schema"], record["update_schema"],
                                          policy="lenient", witness=False)
            if lenient.compatible != record["compatible_lenient"]:
                mismatches.append((index, "lenient", lenient.compatible, None))
    assert mismatches == []


def test_corpus_through_cli_jsonl(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    records = all_records()
    lines = [json.dumps({"old": r["original_schema"], "new": r["update_schema"],
                         "mode": "BACKWARD", "policy": "strict"}) for _, _, r in records]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = main(["compat", "--jsonl"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [o["line"] for o in out] == list(range(1, len(records) + 1))
    pairs = list(zip(out, (r for _, _, r in records), strict=True))
    verdicts = sum(o["compatible"] == r["compatible"] for o, r in pairs)
    exact = sum([f"{c['type']} {c['path']}" for c in o["changes"]] == r["changes"]
                for o, r in pairs)
    assert verdicts / len(records) >= 0.99
    assert exact / len(records) >= 0.95


def test_every_witness_is_real() -> None:
    checked = 0
    for _, _, record in all_records():
        if record["compatible"]:
            continue
        result = check_compatibility(record["original_schema"], record["update_schema"])
        if result.witness is None:
            continue
        payload = result.witness.payload
        draft7 = jsonschema.Draft7Validator  # no $schema means draft-07, as in Confluent
        old_cls = jsonschema.validators.validator_for(record["original_schema"], default=draft7)
        new_cls = jsonschema.validators.validator_for(record["update_schema"], default=draft7)
        assert old_cls(record["original_schema"]).is_valid(payload)
        assert not new_cls(record["update_schema"]).is_valid(payload)
        checked += 1
    assert checked >= 80


@pytest.mark.parametrize("exemption", EXEMPTIONS, ids=lambda e: f"{e.corpus}:{e.index}")
def test_exemptions_hold(exemption) -> None:
    record = load_corpus(exemption.corpus)[exemption.index]
    assert record["description"] == exemption.description
    assert record["compatible"] is exemption.confluent
    result = check_compatibility(record["original_schema"], record["update_schema"])
    assert result.compatible is exemption.confluent
    if exemption.semantic:
        assert result.witness is None
    else:
        from harness.contracts.compat.loading import load_graph
        from harness.contracts.compat.witness import find_witness

        old = load_graph(record["original_schema"], uri="file:///o.json", where="old")
        new = load_graph(record["update_schema"], uri="file:///n.json", where="new")
        assert find_witness(old, new, writer_name="old", reader_name="new") is not None


def test_recursive_schema_against_itself_has_no_differences() -> None:
    schema = json.loads(shared_path("corpora", "confluent-json-schema",
                                    "recursive-schema.json").read_text())
    result = check_compatibility(schema, json.loads(json.dumps(schema)), "FULL")
    assert result.compatible and result.changes == []


def test_recursive_schema_change_deep_in_the_cycle_is_found() -> None:
    schema = json.loads(shared_path("corpora", "confluent-json-schema",
                                    "recursive-schema.json").read_text())
    changed = json.loads(json.dumps(schema))
    category = changed["definitions"]["Category"]
    name = next(iter(category["properties"]))
    category["properties"][name] = {"type": "boolean"}
    result = check_compatibility(schema, changed)
    assert not result.compatible
    assert any(c.type == "TYPE_CHANGED" for c in result.changes)
