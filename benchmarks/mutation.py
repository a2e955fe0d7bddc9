"""Mutation score of the example agents against the harness's own suites (cosmic-ray 8.7.0).

    python benchmarks/mutation.py [--examples payments,rides,media] [--jobs 2] [--out DIR]
        [--report-only]

For each example it copies this checkout to ``DIR/EXAMPLE/tree`` (cosmic-ray edits the module
in place, so never in the working tree), writes ``DIR/EXAMPLE/cosmic-ray.toml``, and runs
``cosmic-ray init``, ``cr-filter-operators``, ``baseline`` and ``exec`` with the test command
``python benchmarks/mutation_check.py EXAMPLE`` (contracts, fuzz, chaos on fixed seeds). Two
examples run at once with ``--jobs 2``. The score is computed from ``cosmic-ray dump`` (not
``cr-rate``, which counts incompetent mutants as killed):

    score = killed / (mutants - equivalent)    (incompetent and not-run mutants apart)

``benchmarks/mutation_equivalent.json`` lists the equivalent mutants (example, line, operator,
occurrence) with the reason no input can tell them apart, and the "unspecified" ones: they do
change an output, but no contract or business rule says what that output must be (a pricing
formula's constants); they count as survivors in the score, and a second figure leaves them
out. It prints a table (killed, survived,
equivalent, incompetent, timeouts, score per example) and writes ``DIR/mutation.json`` with
every survivor's diff. ``--report-only`` recomputes the table from existing sessions.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("payments", "rides", "media")
#: bit, shift and power operators and is/is-not (equivalent or meaningless on these agents)
EXCLUDED = [
    "core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor)",
    "core/ReplaceBinaryOperator_(Pow|RShift|LShift|BitOr|BitAnd|BitXor)_.*",
    "core/ReplaceComparisonOperator_.*_(Is|IsNot)",
    "core/ReplaceComparisonOperator_(Is|IsNot)_.*",
]
COPY = ("harness", "examples", "chaos", "contracts", "benchmarks", "pyproject.toml")
TIMEOUT_S = 240.0


def _config(example: str, tree: Path) -> str:
    excluded = ",\n".join(f'  "{e}"' for e in EXCLUDED)
    return (f'[cosmic-ray]\nmodule-path = "{tree}/examples/{example}/agents.py"\n'
            f"timeout = {TIMEOUT_S}\nexcluded-modules = []\n"
            f'test-command = "{sys.executable} benchmarks/mutation_check.py {example}"\n'
            '[cosmic-ray.distributor]\nname = "local"\n'
            f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [\n{excluded}\n]\n")


def run_session(example: str, out: Path) -> Path:
    """Run one example's mutation session; returns its session file."""
    work = out / example
    tree = work / "tree"
    if work.exists():
        shutil.rmtree(work)
    tree.mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns(
                "__pycache__", "chaos-runs", "*.sqlite*"))
        else:
            shutil.copy2(src, tree / name)
    config = work / "cosmic-ray.toml"
    config.write_text(_config(example, tree))
    session = work / "session.sqlite"
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    log = (work / "cosmic-ray.log").open("w")
    check = [sys.executable, "benchmarks/mutation_check.py", example]
    if subprocess.run(check, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
        raise SystemExit(f"{example}: the unmutated agents fail the test command (see {log.name})")
    for cmd in (["cosmic-ray", "init", str(config), str(session)],
                ["cr-filter-operators", str(session), str(config)]):
        subprocess.run(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    skip_marked(session, tree / "examples" / example / "agents.py")
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=tree, env=env,
                   stdout=log, stderr=subprocess.STDOUT, check=True)
    return session


def skip_marked(session: Path, module: Path) -> int:
    """Skip mutants from a ``# mutation: off`` comment line to the end of the module (code kept
    for an incident, not a correct agent); returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    lines = module.read_text().splitlines()
    off = next((i + 1 for i, text in enumerate(lines) if text.startswith("# mutation: off")),
               None)
    if off is None:
        return 0
    n = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            if item.mutations[0].start_pos[0] >= off:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="marked: mutation off"))
                n += 1
    return n


def _equivalents() -> dict[tuple[str, int, str, int], str]:
    """(example, line, operator, occurrence) -> "equivalent" or "unspecified"."""
    path = Path(__file__).with_name("mutation_equivalent.json")
    if not path.exists():
        return {}
    out = {}
    for kind in ("equivalent", "unspecified"):
        for e in json.loads(path.read_text()).get(kind, []):
            out[(e["example"], int(e["line"]), e["operator"], int(e.get("occurrence", 0)))] = kind
    return out


def score(example: str, session: Path) -> dict[str, Any]:
    """Counts and survivors of one session, from ``cosmic-ray dump``."""
    dump = subprocess.run(["cosmic-ray", "dump", str(session)], capture_output=True,
                          text=True, check=True).stdout
    equivalent = _equivalents()
    counts = {"mutants": 0, "killed": 0, "survived": 0, "equivalent": 0, "unspecified": 0,
              "incompetent": 0, "timeouts": 0, "not_run": 0}
    survivors: list[dict[str, Any]] = []
    seen: set[tuple[str, int, str, int]] = set()
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is not None and result.get("worker_outcome") == "skipped":
            continue  # an excluded operator (EXCLUDED)
        counts["mutants"] += 1
        m = item["mutations"][0]
        key = (example, int(m["start_pos"][0]), m["operator_name"], int(m["occurrence"]))
        seen.add(key)
        if result is None or result.get("worker_outcome") != "normal":
            counts["not_run" if result is None else "incompetent"] += 1
            continue
        outcome = result.get("test_outcome")
        if outcome == "survived" and key in equivalent:
            counts[equivalent[key]] += 1
        elif outcome == "killed":
            counts["killed"] += 1
            if (result.get("output") or "").strip() == "timeout":
                counts["timeouts"] += 1
        elif outcome == "survived":
            counts["survived"] += 1
            survivors.append({"line": key[1], "operator": key[2], "occurrence": key[3],
                              "diff": result.get("diff")})
        else:
            counts["incompetent"] += 1
    judged = counts["killed"] + counts["survived"] + counts["unspecified"]
    counts["score"] = round(100 * counts["killed"] / judged, 1) if judged else None
    specified = judged - counts["unspecified"]
    counts["score_specified"] = (round(100 * counts["killed"] / specified, 1) if specified
                                 else None)
    # an entry naming no mutant of the session is stale (the module changed under it): say so
    stale = sorted(k for k in equivalent if k[0] == example and k not in seen)
    for k in stale:
        print(f"mutation_equivalent.json: {k[0]} line {k[1]} {k[2]} #{k[3]} names no mutant "
              "of this session (stale entry)", file=sys.stderr)
    return {"example": example, **counts, "survivors": survivors,
            "stale_entries": [list(k) for k in stale]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="mutation-runs")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    examples = [e for e in args.examples.split(",") if e]
    unknown = [e for e in examples if e not in EXAMPLES]
    if unknown:
        print(f"--examples: unknown example {unknown[0]!r} (known: {', '.join(EXAMPLES)})",
              file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    started = time.monotonic()
    if not args.report_only:
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(lambda e: run_session(e, out), examples))
    rows = [score(e, out / e / "session.sqlite") for e in examples]
    (out / "mutation.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| example | mutants | killed | survived | unspecified | equivalent | incompetent "
          "| timeouts | not run | score | score (specified) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['example']} | {r['mutants']} | {r['killed']} | {r['survived']} | "
              f"{r['unspecified']} | {r['equivalent']} | {r['incompetent']} | "
              f"{r['timeouts']} | {r['not_run']} | {r['score']}% | {r['score_specified']}% |")
    killed = sum(r["killed"] for r in rows)
    judged = sum(r["killed"] + r["survived"] + r["unspecified"] for r in rows)
    specified = judged - sum(r["unspecified"] for r in rows)
    print(f"\nall: {killed}/{judged} non-equivalent mutants killed "
          f"({round(100 * killed / judged, 1) if judged else None}%); "
          f"{killed}/{specified} of those whose behaviour a contract or rule specifies "
          f"({round(100 * killed / specified, 1) if specified else None}%); "
          f"{round(time.monotonic() - started)} s")
    for r in rows:
        for s in r["survivors"]:
            print(f"survivor {r['example']}:{s['line']} {s['operator']} #{s['occurrence']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
