"""``harness compat`` and ``harness registry check``: exit codes, JSON, bad input."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from harness.cli import main

OLD = {"type": "object", "required": ["risk_level"],
       "properties": {"risk_level": {"type": "string"}}}
NEW = {"type": "object", "required": ["risk_score"],
       "properties": {"risk_score": {"type": "string"}}}


def _write(path: Path, value: object) -> str:
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


def test_compat_json_output_and_exit_codes(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _write(tmp_path / "old.json", OLD), _write(tmp_path / "new.json", NEW)
    assert main(["compat", old, new, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"compatible", "mode", "policy", "changes", "renames", "witness"}
    assert out["compatible"] is False and out["mode"] == "BACKWARD" and out["policy"] == "strict"
    assert {"type", "path", "compatible", "message"} <= set(out["changes"][0])
    assert out["renames"][0]["message"] == "renamed risk_level -> risk_score"
    assert out["witness"]["payload"] == {"risk_level": "a"}
    assert main(["compat", old, old, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["witness"] is None
    assert main(["compat", old, new, "--mode", "forward", "--policy", "LENIENT"]) == 1
    text = capsys.readouterr().out
    assert "INCOMPATIBLE" in text and "renamed risk_level -> risk_score" in text


@pytest.mark.parametrize(("content", "expected"), [
    ('{"type": ', "not JSON"),
    ('{"type": 5}', "#/type: not a valid JSON Schema"),
    ("[1, 2]", "#: not a schema"),
    ('{"properties": {"a": {"$ref": "#/definitions/gone"}}}',
     "#/properties/a/$ref: unresolvable $ref '#/definitions/gone'"),
    ('{"properties": {"a": {"$ref": "other.json#/x"}}}', "unresolvable $ref 'other.json#/x'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      content: str, expected: str) -> None:
    good = _write(tmp_path / "good.json", OLD)
    bad = _write(tmp_path / "bad.json", content)
    assert main(["compat", good, bad]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert "bad.json" in lines[0] and expected in lines[0]


def test_missing_file_and_missing_arguments(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.json", OLD)
    assert main(["compat", good, str(tmp_path / "absent.json")]) == 2
    assert "absent.json: no such file" in capsys.readouterr().err
    assert main(["compat", good]) == 2


def test_cross_file_ref_is_followed(tmp_path: Path) -> None:
    _write(tmp_path / "money.json", {"definitions": {"amount": {"type": "integer"}}})
    _write(tmp_path / "money2.json", {"definitions": {"amount": {"type": "string"}}})
    old = _write(tmp_path / "old.json",
                 {"properties": {"m": {"$ref": "money.json#/definitions/amount"}}})
    new = _write(tmp_path / "new.json",
                 {"properties": {"m": {"$ref": "money2.json#/definitions/amount"}}})
    assert main(["compat", old, old]) == 0
    assert main(["compat", old, new]) == 1


def test_jsonl_reports_each_line_and_survives_bad_ones(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"old": OLD, "new": OLD}),
        "not json",
        json.dumps({"old": OLD, "new": NEW, "mode": "FORWARD", "policy": "lenient"}),
        json.dumps({"old": OLD, "new": {"$ref": "#/nowhere"}}),
        json.dumps({"old": OLD}),
        "",
        json.dumps({"old": OLD, "new": NEW, "mode": "SIDEWAYS"}),
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["compat", "--jsonl"]) == 2
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 7]
    assert out[0]["compatible"] is True
    assert "not JSON" in out[1]["error"]
    assert out[2]["compatible"] is False and out[2]["mode"] == "FORWARD"
    assert out[2]["policy"] == "lenient"
    assert "unresolvable $ref" in out[3]["error"] and "4: new" in out[3]["error"]
    assert "old" in out[4]["error"] and "new" in out[4]["error"]
    assert "SIDEWAYS" in out[5]["error"]


def test_jsonl_exit_codes(monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"old": OLD, "new": OLD}) + "\n"))
    assert main(["compat", "--jsonl"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"old": OLD, "new": NEW}) + "\n"))
    assert main(["compat", "--jsonl"]) == 1
    capsys.readouterr()


def test_jsonl_lines_may_name_schema_files(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Paths are read relative to the JSON-lines file; a missing one names its line and side."""
    (tmp_path / "schemas").mkdir()
    _write(tmp_path / "schemas" / "old.json", OLD)
    _write(tmp_path / "schemas" / "new.json", NEW)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join([
        json.dumps({"old": "schemas/old.json", "new": "schemas/new.json"}),
        json.dumps({"old": "schemas/old.json", "new": "schemas/gone.json"}),
        json.dumps({"old": OLD, "new": str(tmp_path / "schemas" / "old.json")}),
    ]) + "\n")
    assert main(["compat", "--jsonl", str(pairs)]) == 2
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["compatible"] is False
    assert out[0]["renames"][0]["message"] == "renamed risk_level -> risk_score"
    assert out[1]["error"].startswith(f"{pairs}:2: new: ") and "gone.json" in out[1]["error"]
    assert out[2]["compatible"] is True


def _subject(root: Path, name: str, versions: list[dict], mode: str | None = None,
             policy: str | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    meta = []
    if mode:
        meta.append(f"compatibility: {mode}")
    if policy:
        meta.append(f"policy: {policy}")
    if meta:
        (folder / "subject.yaml").write_text("\n".join(meta) + "\n")
    for number, schema in enumerate(versions, start=1):
        _write(folder / f"v{number}.json", schema)


def test_registry_check_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"type": "object", "properties": {"id": {"type": "string"}}}
    grown = {"type": "object", "properties": {"id": {"type": "string"},
                                              "n": {"type": "integer"}}}
    _subject(tmp_path, "ok.plain", [base, base])
    _subject(tmp_path, "ok.lenient", [base, grown], policy="lenient")
    _subject(tmp_path, "risk.scored", [OLD, NEW], mode="FULL")
    assert main(["registry", "check", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    verdicts = {s["subject"]: s for s in out["subjects"]}
    assert verdicts["ok.plain"]["compatible"] and verdicts["ok.lenient"]["compatible"]
    bad = verdicts["risk.scored"]
    assert not bad["compatible"] and bad["mode"] == "FULL"
    assert bad["violations"][0]["version"] == 2 and bad["violations"][0]["against"] == 1
    assert bad["violations"][0]["renames"][0]["to"] == "risk_score"
    assert main(["registry", "check", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "risk.scored" in text and "v2 breaks v1" in text


def test_registry_transitive_catches_what_plain_misses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v1 = {"type": "object", "properties": {"n": {"type": "integer"}}}
    v2 = {"type": "object"}
    v3 = {"type": "object", "properties": {"n": {"type": "string"}}}
    _subject(tmp_path / "plain", "s", [v1, v2, v3], mode="BACKWARD", policy="lenient")
    _subject(tmp_path / "trans", "s", [v1, v2, v3], mode="BACKWARD_TRANSITIVE",
             policy="lenient")
    assert main(["registry", "check", str(tmp_path / "plain"), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)["subjects"][0]
    assert plain["pairs_checked"] == 2
    assert main(["registry", "check", str(tmp_path / "trans"), "--json"]) == 1
    trans = json.loads(capsys.readouterr().out)["subjects"][0]
    assert [(v["version"], v["against"]) for v in trans["violations"]] == [(3, 1)]
    assert trans["violations"][0]["witness"]["payload"] == {"n": 0}


def test_registry_cross_file_ref_and_dangling_ref(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _subject(tmp_path, "money", [{"definitions": {"amount": {"type": "integer"}}}])
    _subject(tmp_path, "pay", [
        {"properties": {"amount": {"$ref": "../money/v1.json#/definitions/amount"}}},
        {"properties": {"amount": {"$ref": "../money/v1.json#/definitions/amount"}}},
    ])
    assert main(["registry", "check", str(tmp_path)]) == 0
    capsys.readouterr()
    _write(tmp_path / "pay" / "v3.json",
           {"properties": {"amount": {"$ref": "../money/v1.json#/definitions/nope"}}})
    assert main(["registry", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "v3.json" in err[0] and "#/properties/amount/$ref" in err[0]


def test_registry_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "check", str(tmp_path / "nope")]) == 2
    assert "registry folder not found" in capsys.readouterr().err


def test_registry_check_in_parallel_workers(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = {"type": "object", "properties": {"id": {"type": "string"}}}
    for n in range(70):
        _subject(tmp_path, f"s{n:02d}", [base, base], mode="FULL_TRANSITIVE")
    _subject(tmp_path, "zz.risk", [OLD, NEW])
    assert main(["registry", "check", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert len(out["subjects"]) == 71
    assert [s["subject"] for s in out["subjects"] if not s["compatible"]] == ["zz.risk"]
    _write(tmp_path / "s05" / "v3.json", {"properties": {"a": {"$ref": "#/nope"}}})
    assert main(["registry", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s05/v3.json" in err[0] and "#/properties/a/$ref" in err[0]
