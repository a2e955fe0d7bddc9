"""The file formats' JSON Schemas: shipped files are accepted, a misspelt key anywhere is one
line naming file:line:field with the known keys, and broken registry schemas stop every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from harness.chaos.experiment import load_experiment
from harness.cli import main
from harness.contracts.registry import SchemaRegistry
from harness.contracts.target import resolve_target
from harness.errors import InputError, PipelineError, SchemaError
from harness.pipeline import load_pipeline, load_yaml_with_lines
from harness.schemas import FORMATS, check_document, load_schema, schema_path

ROOT = Path(__file__).resolve().parents[1]
RIDES = ROOT / "examples" / "rides"


def test_every_format_has_a_valid_schema_and_a_reference_page():
    for name in FORMATS:
        schema = load_schema(name)
        Draft202012Validator.check_schema(schema)
        page = ROOT / "docs" / "formats" / f"{name.removesuffix('-event')}.md"
        text = page.read_text(encoding="utf-8")
        assert f"{name}.schema.json" in text, page
        for key in schema.get("properties", {}):
            assert f"`{key}`" in text, f"{page} does not document {key}"


@pytest.mark.parametrize("pattern, fmt", [
    ("examples/*/pipeline.yaml", "pipeline"),
    ("chaos/*.yaml", "experiment"),
    ("chaos/zoo/*.yaml", "experiment"),
    ("chaos/network/*.yaml", "experiment"),
    ("chaos/incidents/*.yaml", "incident"),
    ("contracts/*/subject.yaml", "subject"),
])
def test_every_shipped_file_is_accepted(pattern, fmt):
    files = sorted(ROOT.glob(pattern))
    assert files, pattern
    for path in files:
        check_document(load_yaml_with_lines(path), fmt, path)


def _pipeline(tmp_path: Path, extra_agent_lines: str = "", top: str = "") -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"""name: t
registry: {ROOT / 'contracts'}
ingress: ride.requested@1
{top}agents:
  matching:
    handler: {RIDES / 'agents.py'}:matching
{extra_agent_lines}""")
    return path


@pytest.mark.parametrize("agent_lines, top, field, line", [
    ("    timout_ms: 5\n", "", "agents.matching.timout_ms", 7),
    ("    dependencies:\n      model: {timeout_ms: 5, fallbak: x.py:f}\n", "",
     "agents.matching.dependencies.model.fallbak", 8),
    ("    budget: {p99ms: 5}\n", "", "agents.matching.budget.p99ms", 7),
    ("", "topologie: choreographed\n", "topologie", 4),
])
def test_misspelt_pipeline_keys_name_file_line_field_and_known_keys(tmp_path, agent_lines, top,
                                                                    field, line):
    path = _pipeline(tmp_path, agent_lines, top)
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: {field}: unknown field"), msg
    assert "(known: " in msg


def test_did_you_mean(tmp_path):
    with pytest.raises(PipelineError, match=r"did you mean 'timeout_ms'\?"):
        load_pipeline(_pipeline(tmp_path, "    timout_ms: 5\n"))


def test_wrong_types_say_what_is_expected(tmp_path):
    with pytest.raises(PipelineError) as info:
        load_pipeline(_pipeline(tmp_path, "    budget: {p99_ms: fast}\n"))
    assert "agents.matching.budget.p99_ms: must be a number, got 'fast'" in str(info.value)
    with pytest.raises(PipelineError, match=r"workload: must be FILE\.py:ATTR"):
        load_pipeline(_pipeline(tmp_path, top="workload: generator.py\n"))


def test_experiment_probe_and_fault_keys_are_checked(tmp_path):
    path = tmp_path / "exp.yaml"
    pipe = ROOT / "examples" / "rides" / "pipeline.yaml"
    path.write_text(f"pipeline: {pipe}\nsteady-state-hypothesis:\n  probes:\n"
                    "    - checker: latency\n      tolerence: ['p99 <= 3s']\n")
    with pytest.raises(PipelineError) as info:
        load_experiment(path)
    assert "exp.yaml:5: steady-state-hypothesis.probes[0].tolerence: unknown field" in str(
        info.value)
    path.write_text(f"pipeline: {pipe}\nmethod:\n  - fault: duplicate\n    propability: 0.5\n")
    with pytest.raises(PipelineError, match=r"exp.yaml:4: method\[0\].propability: unknown"):
        load_experiment(path)


def test_incident_keys_are_checked(tmp_path):
    path = tmp_path / "incident.yaml"
    path.write_text(f"title: x\npipeline: {ROOT / 'examples/payments/pipeline.yaml'}\n"
                    "variant:\n  fraud: agents.py:fraud_v2\n")
    with pytest.raises(PipelineError, match=r"incident.yaml:3: variant: unknown field 'variant'; "
                       r"did you mean 'variants'\?"):
        resolve_target("fraud", incident=path)


def _registry_copy(tmp_path: Path, *types: str) -> Path:
    reg = tmp_path / "contracts"
    for name in types:
        shutil.copytree(ROOT / "contracts" / name, reg / name)
    return reg


def test_subject_yaml_typo_is_exit_2_with_the_line(tmp_path, capsys):
    reg = _registry_copy(tmp_path, "ride.requested")
    (reg / "ride.requested" / "subject.yaml").write_text("policy: strict\ncompatibilty: FULL\n")
    with pytest.raises(SchemaError) as info:
        SchemaRegistry(reg)
    assert (f"{reg / 'ride.requested' / 'subject.yaml'}:2: compatibilty: unknown field "
            "'compatibilty'; did you mean 'compatibility'?") in str(info.value)
    assert main(["registry", "check", str(reg)]) == 2
    assert "compatibilty" in capsys.readouterr().err
    (reg / "ride.requested" / "subject.yaml").write_text("compatibility: SIDEWAYS\n")
    with pytest.raises(SchemaError, match=r"subject\.yaml:1: compatibility: must be one of"):
        SchemaRegistry(reg)


def test_invalid_registry_schema_stops_chaos_run_with_exit_2(tmp_path, capsys):
    reg = _registry_copy(tmp_path, "ride.requested", "ride.matched", "ride.priced",
                         "ride.eta_estimated", "ride.dispatched")
    schema_file = reg / "ride.priced" / "v1.json"
    schema = json.loads(schema_file.read_text())
    schema["type"] = "strng"
    schema_file.write_text(json.dumps(schema))
    pipe = tmp_path / "pipeline.yaml"
    pipe.write_text((RIDES / "pipeline.yaml").read_text()
                    .replace("registry: ../../contracts", f"registry: {reg}")
                    .replace("agents.py:", f"{RIDES / 'agents.py'}:"))
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"pipeline: {pipe}\nworkload:\n  count: 3\n"
                   f"  generator: {RIDES / 'workload.py'}:rides_workload\n")
    code = main(["chaos", "run", str(exp), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{schema_file}: not a valid JSON Schema at #/type" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "results.json").exists()


def test_schema_command_prints_the_path_for_editors(capsys):
    assert main(["schema", "pipeline", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(schema_path("pipeline"))
    assert main(["schema", "nonsense"]) == 2
    assert "unknown format 'nonsense'" in capsys.readouterr().err


def test_unknown_format_is_input_error():
    with pytest.raises(InputError):
        schema_path("pipline")


def test_a_real_run_writes_history_and_results_its_schemas_accept(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"pipeline: {RIDES / 'pipeline.yaml'}\nseed: 3\nworkload:\n  count: 6\n"
                   f"  generator: {RIDES / 'workload.py'}:rides_workload\n"
                   "method:\n  - {fault: duplicate, target: dispatch, probability: 0.5}\n")
    out = tmp_path / "run"
    assert main(["chaos", "run", str(exp), "--out", str(out)]) == 0
    events = Draft202012Validator(load_schema("history-event"))
    lines = (out / "history.jsonl").read_text().splitlines()
    kinds = set()
    for n, line in enumerate(lines, 1):
        event = json.loads(line)
        kinds.add(event["kind"])
        assert not list(events.iter_errors(event)), (n, line)
    assert {"run_start", "ingress", "deliver", "effect", "fault_start", "run_end"} <= kinds
    results = json.loads((out / "results.json").read_text())
    Draft202012Validator(load_schema("results")).validate(results)
    broken = {**results, "valid": "maybe"}
    assert list(Draft202012Validator(load_schema("results")).iter_errors(broken))
