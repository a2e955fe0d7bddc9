"""Confluent's Protobuf diff corpus: every record's verdict and exact change list, through the
engine and through ``harness compat --jsonl``; witnesses checked with the Protobuf runtime."""

from __future__ import annotations

import io
import json
import sys

import pytest

from harness.cli import main
from harness.contracts.compat.proto_check import check_proto
from harness.contracts.compat.proto_codec import decode, encode
from tests.contracts.proto_corpus import load_side, records


def test_every_record_matches_confluent() -> None:
    mismatches = []
    all_records = records()
    for name, index, record in all_records:
        result = check_proto(load_side(record, "original"), load_side(record, "update"),
                             witness=False)
        changes = [f"{c.type} {c.path}" for c in result.changes]
        if changes != record["changes"] or result.compatible != record["compatible"]:
            mismatches.append((name, index, record["description"], changes))
    assert len(all_records) == 55
    assert mismatches == []


def test_corpus_through_cli_jsonl(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    all_records = [r for _, _, r in records()]
    lines = [json.dumps({"format": "protobuf", "old": r["original_schema"],
                         "new": r["update_schema"],
                         "old_dependencies": r.get("original_dependencies", []),
                         "new_dependencies": r.get("update_dependencies", []),
                         "old_references": r.get("original_references", []),
                         "new_references": r.get("update_references", [])})
             for r in all_records]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = main(["compat", "--jsonl", "--no-witness"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    pairs = list(zip(out, all_records, strict=True))
    verdicts = sum(o["compatible"] == r["compatible"] for o, r in pairs)
    exact = sum([f"{c['type']} {c['path']}" for c in o["changes"]] == r["changes"]
                for o, r in pairs)
    assert verdicts / len(pairs) >= 0.99
    assert exact / len(pairs) >= 0.99


def test_witnesses_break_the_reader_with_the_real_runtime() -> None:
    checked = 0
    for _, _, record in records():
        if record["compatible"]:
            continue
        old, new = load_side(record, "original"), load_side(record, "update")
        result = check_proto(old, new)
        if result.witness is None:
            continue
        w = result.witness.to_dict()
        data = bytes.fromhex(w["payload"]["hex"])
        name = w["payload"]["message"]
        assert encode(old, w["payload"]["written"], name) == data
        reader_name = name.removeprefix(old.package + ".") if old.package else name
        reader_name = f"{new.package}.{reader_name}" if new.package else reader_name
        if reader_name not in new.types:
            assert "has no message" in w["error"]
        else:
            try:
                read = decode(new, data, reader_name)
            except Exception:
                pass
            else:
                assert "read as" in w["error"] or "unknown to the reader" in w["error"]
                assert w["payload"]["read"] != w["payload"]["written"]
                assert read.SerializeToString() is not None
        checked += 1
    assert checked >= 20


def test_raw_confluent_records_through_cli_jsonl(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Confluent's own record keys (original_schema, update_dependencies...) are accepted."""
    raw = [r for name, _, r in records() if name == "diff-schema-examples.json"]
    lines = [json.dumps({k: v for k, v in r.items()
                         if k not in ("description", "changes", "compatible")}) for r in raw]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["compat", "--jsonl", "--no-witness"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[f"{c['type']} {c['path']}" for c in o["changes"]] for o in out] == \
        [r["changes"] for r in raw]
    assert [o["compatible"] for o in out] == [r["compatible"] for r in raw]
