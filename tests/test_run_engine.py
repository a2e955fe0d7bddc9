"""`harness run` on any pipeline: workloads from the pipeline (or its ingress schema), a summary
named after it and read by the checkers, and an exit code that means something."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.checkers import run_checkers
from harness.cli import main
from harness.contracts.registry import SchemaRegistry
from harness.history import read_history
from harness.pipeline import load_pipeline
from harness.scaffold import scaffold
from harness.workload import make_workload

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["run", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.mark.parametrize("example", ["rides", "media"])
def test_rides_and_media_complete_their_inputs_and_exit_0(example, tmp_path, capsys):
    code, out = _run(capsys, str(ROOT / "examples" / example / "pipeline.yaml"),
                     "--transactions", "40", "--seed", "3", "--out", str(tmp_path))
    assert code == 0, out
    assert out["pipeline"] == example and out["transactions"] == 40
    assert out["completed"] > 0 and out["unexpected_outcomes"] == 0 and out["lost"] == 0
    assert out["completed"] + out["declined"] + out["dead_lettered"] == 40
    assert out["p50_ms"] is not None


def test_summary_figures_are_the_checkers_verdicts_on_the_history(tmp_path, capsys):
    scaffold(tmp_path / "orders")
    code, out = _run(capsys, str(tmp_path / "orders" / "pipeline.yaml"), "--transactions", "40",
                     "--seed", "5", "--out", str(tmp_path / "run"))
    assert code == 0, out
    verdicts = run_checkers(read_history(tmp_path / "run" / "history.jsonl"),
                            ["no_loss", "exactly_once", "outcomes"], {})
    loss = verdicts["no_loss"].counts
    assert (out["completed"], out["declined"], out["dead_lettered"], out["lost"]) == (
        loss["completed"], loss["declined"], loss["dead_lettered"], loss["lost"])
    assert out["verdicts"] == {"no_loss": "valid", "exactly_once": "valid", "outcomes": "valid"}
    assert out["declined"] > 0 and out["dead_lettered"] > 0  # quantity > 50; the invalid mix


def _orders(tmp_path: Path, agents_py: str) -> Path:
    scaffold(tmp_path / "made")  # (imports its agents.py while writing the pact file)
    folder = tmp_path / "orders"
    shutil.copytree(tmp_path / "made", folder)
    (folder / "agents.py").write_text(agents_py)
    return folder / "pipeline.yaml"


DEAD_LETTERS_ALL = '''
from harness import Agent, Context, Envelope

inventory = Agent("inventory", "1.0.0", consumes=["order.placed@1"],
                  emits=["inventory.reserved@1"])

@inventory.handler
async def reserve(ctx: Context, msg: Envelope) -> None:
    ctx.emit("inventory.reserved", {"order_id": msg.payload["order_id"]})  # BUG: fields missing

shipping = Agent("shipping", "1.0.0", consumes=["inventory.reserved@1"], emits=[])

@shipping.handler
async def ship(ctx: Context, msg: Envelope) -> None:
    await ctx.outcome("completed")
'''


def test_an_orders_pipeline_that_dead_letters_everything_exits_1(tmp_path, capsys):
    code, out = _run(capsys, str(_orders(tmp_path, DEAD_LETTERS_ALL)), "--transactions", "30",
                     "--seed", "1", "--out", str(tmp_path / "run"))
    assert code == 1
    assert out["completed"] == 0 and out["unexpected_outcomes"] > 0
    assert out["dead_letter_reasons"].get("emitted_invalid", 0) > 0


FORGETS_OUTCOME = DEAD_LETTERS_ALL.replace(
    '{"order_id": msg.payload["order_id"]})  # BUG: fields missing',
    '{**msg.payload, "reservation_id": "r-1"})').replace(
    'await ctx.outcome("completed")', 'pass  # BUG: never records an outcome')


def test_inputs_without_an_outcome_are_lost_and_exit_1(tmp_path, capsys):
    code, out = _run(capsys, str(_orders(tmp_path, FORGETS_OUTCOME)), "--transactions", "20",
                     "--seed", "1", "--out", str(tmp_path / "run"), "--timeout", "3")
    assert code == 1
    assert out["lost"] > 0 and out["lost_ids"]


def test_a_generator_with_the_wrong_signature_is_one_line_exit_2(tmp_path, capsys):
    folder = tmp_path / "p"
    shutil.copytree(ROOT / "examples" / "rides", folder)
    (folder / "workload.py").write_text("def rides_workload(count):\n    return []\n")
    text = (folder / "pipeline.yaml").read_text().replace("../../contracts",
                                                           str(ROOT / "contracts"))
    (folder / "pipeline.yaml").write_text(text)
    code = main(["run", str(folder / "pipeline.yaml"), "--transactions", "5"])
    err = " ".join(capsys.readouterr().err.split())  # unwrap the console's line breaks
    assert code == 2
    assert "Traceback" not in err and err.count("error:") == 1
    assert "pipeline.yaml:7: workload" in err
    assert "expected def generator(n: int, seed: int, *, mix: dict[str, float], run_tag: str)" \
        in err


def test_schema_drawn_workload_is_seeded_and_every_valid_input_revalidated(tmp_path):
    scaffold(tmp_path / "orders")
    spec = load_pipeline(tmp_path / "orders" / "pipeline.yaml")
    a = make_workload(spec, 60, 9, mix={"valid": 0.8, "invalid": 0.2})
    b = make_workload(spec, 60, 9, mix={"valid": 0.8, "invalid": 0.2})
    def inputs(items):
        return [(i.kind, i.correlation_id, i.envelope.payload if i.envelope else None)
                for i in items]

    assert inputs(a) == inputs(b)
    assert inputs(a) != inputs(make_workload(spec, 60, 10, mix={"invalid": 0.2}))
    registry = SchemaRegistry(spec.registry_path)
    kinds = {i.kind for i in a}
    assert {"valid", "malformed_bytes", "missing_field", "wrong_type", "wrong_version"} <= kinds
    for item in a:
        if item.valid:
            assert item.expect == "accepted"
            assert registry.is_valid("order.placed", 1, item.envelope.payload)
        else:
            assert item.expect == "dead_lettered"
            try:
                raw = json.loads(item.body)
            except ValueError:
                continue  # malformed bytes
            assert raw["schema_version"] != 1 or not registry.is_valid(
                "order.placed", 1, raw["payload"])


def test_a_long_run_records_its_snapshot_in_parts_and_judges_them_as_one(
        tmp_path, capsys, monkeypatch):
    """The end-of-run snapshot is read from the store a page at a time and recorded as
    snapshot events with part 1, 2, ...; exactly_once joins them (a stored effect the history
    never applied is still caught in the last part)."""
    import harness.run

    monkeypatch.setattr(harness.run, "SNAPSHOT_PAGE", 7)
    scaffold(tmp_path / "orders")
    code, out = _run(capsys, str(tmp_path / "orders" / "pipeline.yaml"), "--transactions", "40",
                     "--seed", "5", "--out", str(tmp_path / "run"), "--window", "5")
    assert code == 0, out
    path = tmp_path / "run" / "history.jsonl"
    snaps = [e for e in read_history(path) if e["kind"] == "snapshot"]
    assert len(snaps) > 2 and [s.get("part", 0) for s in snaps] == list(range(len(snaps)))
    assert all(s.get("more") for s in snaps[:-1]) and not snaps[-1].get("more")
    stored = sum(len(s["effects"]) for s in snaps)
    verdict = run_checkers(read_history(path), ["exactly_once"], {})["exactly_once"]
    assert verdict.valid is True and verdict.counts["applied"] == stored
    lines = path.read_text().splitlines()
    last = max(i for i, line in enumerate(lines) if '"snapshot"' in line)
    ghost = json.loads(lines[last])
    ghost["effects"].append({"key": "never-applied", "agent": "x", "effect": "y"})
    lines[last] = json.dumps(ghost)
    path.write_text("\n".join(lines) + "\n")
    verdict = run_checkers(read_history(path), ["exactly_once"], {})["exactly_once"]
    assert verdict.valid is False and verdict.counts["unrecorded"] == 1


def test_a_run_past_the_memory_bound_gives_the_verdicts_of_one_in_memory(
        tmp_path, capsys, monkeypatch):
    """With the bound of the in-memory indexes set tiny, the run's fates and every checker's
    indexes move to disk (harness.spill): the run still settles, and its summary and every
    verdict (counts, examples) equal those of the same history judged in memory, also once
    the history is tampered with (effects applied twice, outcomes lost)."""
    from harness import spill
    from harness.checkers import CHECKERS
    from harness.checkers.base import compose
    from harness.summary import summarise

    scaffold(tmp_path / "orders")
    monkeypatch.setattr(spill, "BOUND", 8)
    code, out = _run(capsys, str(tmp_path / "orders" / "pipeline.yaml"), "--transactions", "60",
                     "--seed", "5", "--out", str(tmp_path / "run"), "--window", "5")
    assert code == 0 and out["transactions"] == 60 and out["lost"] == 0, out
    path = tmp_path / "run" / "history.jsonl"
    lines = path.read_text().splitlines()
    effects = [i for i, line in enumerate(lines) if '"kind":"effect"' in line]
    outcomes = [i for i, line in enumerate(lines) if '"kind":"outcome"' in line]
    assert len(effects) > 20 and len(outcomes) > 20
    dropped = set(outcomes[3:9])
    tampered = [line for i, line in enumerate(lines) if i not in dropped]
    tampered += [lines[i] for i in effects[5:15]]  # applied again at the end
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("\n".join(tampered) + "\n")

    def judged(bound: int) -> list:
        monkeypatch.setattr(spill, "BOUND", bound)
        return [(summarise(read_history(p)).to_dict(),
                 {n: v.to_dict() for n, v in compose(CHECKERS, read_history(p)).items()})
                for p in (path, bad)]

    small, large = judged(8), judged(10**9)
    assert small == large
    (_, clean), (summary, verdicts) = small
    assert clean["exactly_once"]["valid"] is True
    assert summary["lost"] == 6 and summary["duplicate_effects"] > 0
    assert len(verdicts["exactly_once"]["examples"]["duplicate_key"]) == 5  # the first five
