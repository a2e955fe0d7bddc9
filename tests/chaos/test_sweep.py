"""Seed sweeps, shards and ``chaos merge``: the merge of N shards is the one-machine sweep."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.chaos.sweep import parse_seeds, parse_shard, seed_ranges, shard_seeds, summarise
from harness.cli import main
from harness.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "chaos" / "zoo" / "ledger-no-dedup.yaml"
SEEDS = "1-6"


def _experiment(folder: Path) -> Path:
    """The ledger-no-dedup zoo experiment made small (12 inputs) and rare enough in faults that
    some seeds catch the double credit and some do not; no latency probe (timing-free)."""
    text = ZOO.read_text()
    text = text.replace("../../examples", str(ROOT / "examples")).replace("count: 60", "count: 12")
    text = text.replace("probability: 0.3", "probability: 0.04")
    text = text.replace("probability: 0.2", "probability: 0.04")
    text = text.replace(", latency]", "]")
    path = folder / "small-ledger.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("sweep")
    exp = _experiment(base)
    codes = {
        "full": main(["chaos", "run", str(exp), "--seeds", SEEDS, "--out", str(base / "full")])
    }
    for k in (1, 2, 3):
        codes[f"s{k}"] = main(
            [
                "chaos",
                "run",
                str(exp),
                "--seeds",
                SEEDS,
                "--shard",
                f"{k}/3",
                "--out",
                str(base / f"s{k}"),
            ]
        )
    return {"base": base, "exp": exp, "codes": codes}


def _verdicts(data: dict) -> dict[int, tuple]:
    return {
        r["seed"]: (r["valid"], {k: v["valid"] for k, v in r["verdicts"].items()})
        for r in data["runs"]
    }


def test_seed_lists_and_ranges():
    assert parse_seeds("1-5,9, 3") == [1, 2, 3, 4, 5, 9]
    assert seed_ranges([9, 1, 2, 3, 5]) == "1-3,5,9"
    for bad in ("", "a-b", "5-1", "1-", "1-200000", "-3"):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad)


def test_shards_partition_the_seeds_exactly_once():
    seeds = parse_seeds("1-1000")
    parts = [shard_seeds(seeds, k, 7) for k in range(1, 8)]
    assert sorted(s for p in parts for s in p) == seeds
    assert {len(p) for p in parts} == {142, 143}
    assert shard_seeds(seeds, 1, 7)[:3] == [1, 8, 15]  # K counts from 1: position % N == K-1
    assert parse_shard("2/4", seeds=10) == (2, 4)
    for bad in ("0/3", "4/3", "2", "a/b", "1/0", "2/20"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad, seeds=10)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seeds", "1-6", "--shard", "4/3"], "K must be between 1 and N"),
        (["--seeds", "1-6", "--shard", "0/3"], "K must be between 1 and N"),
        (["--seeds", "1-6", "--shard", "three"], "is not K/N"),
        (["--shard", "1/2"], "--shard needs --seeds"),
        (["--seeds", "1-6", "--seed", "3"], "not both"),
        (["--seeds", "9-2"], "ends below its start"),
    ],
)
def test_bad_sweep_flags_are_one_line_and_exit_2(tmp_path: Path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["chaos", "run", str(ZOO), *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_a_shard_writes_its_runs_and_its_own_summary(sweeps):
    s2 = sweeps["base"] / "s2"
    data = json.loads((s2 / "results.json").read_text())
    assert [r["seed"] for r in data["runs"]] == [2, 5]
    assert data["shards"] == [{"k": 2, "n": 3, "seeds": 2}] and data["missing"] == ""
    for seed in (2, 5):
        for name in ("history.jsonl", "results.json", "junit.xml", "report.html"):
            assert (s2 / f"seed-{seed}" / name).stat().st_size > 0
    assert not (s2 / "seed-1").exists()


def test_merge_of_the_shards_equals_the_unsharded_sweep(sweeps, capsys):
    base = sweeps["base"]
    code = main(
        [
            "chaos",
            "merge",
            *(str(base / f"s{k}") for k in (1, 2, 3)),
            "--out",
            str(base / "merged"),
            "--json",
        ]
    )
    merged = json.loads(capsys.readouterr().out)
    full = json.loads((base / "full" / "results.json").read_text())
    assert _verdicts(merged) == _verdicts(full)
    assert sorted(_verdicts(merged)) == [1, 2, 3, 4, 5, 6]
    for key in ("valid", "counts", "checkers", "expectation_met", "missing", "expected"):
        assert merged[key] == full[key], key
    assert code == sweeps["codes"]["full"] == {True: 0, False: 1}.get(full["valid"], 2)
    # the bug is caught on some seeds only: the comparison is not between two uniform sweeps
    assert merged["checkers"]["exactly_once"]["invalid_seeds"] not in ("", "1-6")
    stored = json.loads((base / "merged" / "results.json").read_text())
    assert _verdicts(stored) == _verdicts(full)

    def cases(name: str) -> list[tuple[str, str, str]]:
        root = ET.parse(base / name / "junit.xml").getroot()
        return [
            (suite.get("name", ""), case.get("name", ""), ",".join(child.tag for child in case))
            for suite in root
            for case in suite
        ]

    assert cases("merged") == cases("full")  # one suite per seed, the same case outcomes
    assert len({suite for suite, _, _ in cases("full")}) == 6
    page = (base / "merged" / "report.html").read_text()
    for link in re.findall(r'href="([^"]+)"', page):
        assert (base / "merged" / link).is_file(), link  # each seed's own report, in its shard


def test_a_missing_shard_is_reported_not_hidden(sweeps, capsys):
    base = sweeps["base"]
    code = main(
        ["chaos", "merge", str(base / "s1"), str(base / "s3"), "--out", str(base / "gap"), "--json"]
    )
    merged = json.loads(capsys.readouterr().out)
    assert merged["missing"] == "2,5" and merged["missing_shards"] == [2]
    assert merged["counts"]["missing"] == 2 and merged["expectation_met"] is False
    assert code != 0
    junit = (base / "gap" / "junit.xml").read_text()
    assert 'name="seeds 2,5"' in junit and 'type="missing"' in junit
    assert "MISSING" in (base / "gap" / "report.html").read_text()


def test_missing_seeds_make_an_all_valid_sweep_unknown():
    ident = {
        "harness_version": "x",
        "experiment": {"name": "e"},
        "broker": "memory",
        "simulated": False,
    }
    runs = [
        {
            "seed": s,
            "valid": True,
            "expectation_met": True,
            "verdicts": {"no_loss": {"valid": True}},
            "dir": f"seed-{s}",
            "elapsed_s": 0.1,
        }
        for s in (1, 3)
    ]
    shards = [{"k": 1, "n": 2, "seeds": 2}]
    whole = summarise(ident, [1, 2, 3, 4], runs, shards=shards, expected=[1, 2, 3, 4])
    assert whole["valid"] == "unknown" and whole["missing"] == "2,4"
    assert whole["missing_shards"] == [2]
    alone = summarise(ident, [1, 2, 3, 4], runs, shards=shards, expected=[1, 3])
    assert alone["valid"] is True and alone["missing"] == "" and alone["missing_shards"] == []


def _edit(src: Path, dst: Path, fn) -> Path:
    dst.mkdir(parents=True)
    data = json.loads((src / "results.json").read_text())
    (dst / "results.json").write_text(fn(data) if callable(fn) else fn)
    return dst


@pytest.mark.parametrize(
    "case, message",
    [
        ("overlap", "seed 1 was also run by"),
        ("experiment", "shard of a different experiment"),
        ("version", "shard of a different harness version"),
        ("seeds", "shard of a different seed list"),
        ("missing", "no results.json"),
        ("corrupt", "cannot read results.json"),
        ("bad_seed", "runs[0].seed"),
        ("single_run", "not a seed sweep"),
    ],
)
def test_merge_refuses_shards_that_do_not_belong_together(sweeps, tmp_path, capsys, case, message):
    base = sweeps["base"]
    s1, s2 = base / "s1", base / "s2"

    def changed(**kw):
        return lambda d: json.dumps({**d, **kw})

    make = {
        "overlap": lambda: s1,
        "experiment": lambda: _edit(
            s2,
            tmp_path / "x",
            lambda d: json.dumps({**d, "experiment": {**d["experiment"], "sha256": "0" * 64}}),
        ),
        "version": lambda: _edit(s2, tmp_path / "x", changed(harness_version="9.9.9")),
        "seeds": lambda: _edit(s2, tmp_path / "x", changed(seeds="1-7")),
        "missing": lambda: tmp_path / "nothing-here",
        "corrupt": lambda: _edit(s2, tmp_path / "x", '{"kind": "chaos-sweep", '),
        "bad_seed": lambda: _edit(
            s2, tmp_path / "x", lambda d: json.dumps({**d, "runs": [{**d["runs"][0], "seed": "2"}]})
        ),
        "single_run": lambda: s2 / "seed-2",
    }
    other = make[case]()
    out = tmp_path / "merged"
    assert main(["chaos", "merge", str(s1), str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "results.json" in err[0], err
    assert not out.exists()  # nothing half-written


IDENT = {"experiment": {"name": "x", "sha256": "0" * 64}, "harness_version": "t"}


def _raising_at(bad_seed: int, exc: BaseException):
    """A ``run_one`` whose seed ``bad_seed`` raises ``exc``; every other seed is valid."""

    def run_one(seed: int, folder: Path) -> dict:
        if seed == bad_seed:
            raise exc
        return {"seed": seed, "valid": True, "expectation_met": True,
                "verdicts": {"no_loss": {"valid": True}}, "elapsed_s": 0.1}

    return run_one


def test_a_seed_that_raises_is_unknown_with_its_error_and_the_sweep_goes_on(tmp_path):
    from harness.chaos.sweep import sweep
    from harness.report.sweep import render_sweep_html, sweep_junit

    run_one = _raising_at(2, ConnectionResetError("broker went away\nsecond line"))
    summary = sweep(IDENT, [1, 2, 3], None, tmp_path, run_one)
    assert [r["seed"] for r in summary["runs"]] == [1, 2, 3]
    bad = summary["runs"][1]
    assert bad["valid"] == "unknown" and bad["error"] == "ConnectionResetError: broker went away"
    assert summary["valid"] == "unknown" and summary["errored"] == "2"
    assert summary["counts"]["errored"] == 1 and summary["counts"]["valid"] == 2
    junit = ET.fromstring(sweep_junit(summary))
    assert junit.get("errors") == "1"
    (case,) = junit.findall(".//testsuite[@name='x-seed2']/testcase")
    assert "broker went away" in case.find("error").get("message")
    assert "seeds whose run raised: 2" in render_sweep_html(summary)


@pytest.mark.parametrize(
    "stop",
    [KeyboardInterrupt(), InputError("bad broker URL", where="--broker")],
    ids=["interrupt", "input_error"],
)
def test_a_sweep_stopped_midway_writes_the_seeds_it_ran_then_stops(tmp_path, stop):
    from harness.chaos.sweep import sweep

    written = []
    with pytest.raises(type(stop)):
        sweep(IDENT, [1, 2, 3, 4], None, tmp_path, _raising_at(3, stop), write=written.append)
    (partial,) = written
    assert [r["seed"] for r in partial["runs"]] == [1, 2]
    assert partial["missing"] == "3-4" and partial["valid"] == "unknown"
    assert partial["stopped"].startswith("at seed 3: ")


def test_a_broker_down_stops_a_sweep_at_its_first_seed_with_one_line(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    argv = ["chaos", "run", str(ZOO), "--seeds", "1-3", "--broker", f"redis://127.0.0.1:{port}/0"]
    assert main([*argv, "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "cannot connect to Redis" in err[0]
    assert not (out / "results.json").exists() and not (out / "seed-2").exists()


def test_a_harness_error_after_the_first_seed_is_that_seeds_unknown(tmp_path):
    from harness.chaos.sweep import sweep
    from harness.errors import ServiceUnavailable

    run_one = _raising_at(2, ServiceUnavailable("RabbitMQ went away"))
    summary = sweep(IDENT, [1, 2, 3], None, tmp_path, run_one)
    assert [r["valid"] for r in summary["runs"]] == [True, "unknown", True]
    assert summary["runs"][1]["error"].startswith("ServiceUnavailable: ")
