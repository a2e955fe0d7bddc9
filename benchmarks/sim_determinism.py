"""Same seed, same history: every experiment in chaos/ that a simulation covers, run twice per
seed under ``--simulate`` on many seeds (issue 13's check; docs/simulation.md).

    PYTHONPATH=. python benchmarks/sim_determinism.py [--seeds 20] [--jobs 2] [--only GLOB]
        [--json] [--out DIR]

Seed i of an experiment is its file's seed + 1000 * i. For each (experiment, seed) both runs'
histories are compared event by event (environment fields aside: ``harness.sim.comparable``),
with their virtual time and fired faults; a zoo experiment must also meet its ``expect`` (the
bug caught) on both runs. Prints one row per experiment and exits 1 when any pair differs or a
zoo failure did not reproduce.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _one(path: str, seed: int, out: str) -> dict[str, Any]:
    from harness.chaos.experiment import load_experiment
    from harness.sim.sweep import rerun_twice

    try:
        row = rerun_twice(load_experiment(path), seed, Path(out))
    except Exception as exc:  # one broken pair is reported, the sweep goes on
        return {
            "experiment": path,
            "seed": seed,
            "events": 0,
            "same": False,
            "diff": None,
            "lines": [f"{type(exc).__name__}: {exc}", None],
            "expectation_met": [False],
            "valid": "unknown",
            "wall_s": 0.0,
        }
    return {"experiment": path, **row}


def _note(name: str) -> str:
    if name.startswith("zoo/"):
        return " (zoo)"
    if name.startswith("incidents/"):
        return " (incident: no expect, fails as recorded)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", default="*", help="glob over paths relative to chaos/")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1:
        print("--seeds and --jobs must be at least 1", file=sys.stderr)
        return 2
    from harness.chaos.experiment import load_experiment
    from harness.sim.sweep import simulatable_experiments

    chaos = ROOT / "chaos"
    covered, refused = simulatable_experiments(chaos)
    covered = [p for p in covered if fnmatch.fnmatch(str(p.relative_to(chaos)), args.only)]
    if not covered:
        print(f"--only {args.only!r}: no simulatable experiment matches", file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="sim-determinism-"))
    jobs = []
    for path in covered:
        base = load_experiment(path).seed
        for i in range(args.seeds):
            seed = base + 1000 * i
            jobs.append((str(path), seed, str(out / path.stem / str(seed))))
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_one, *zip(*jobs, strict=True)))
    wall = round(time.perf_counter() - started, 1)
    table = []
    for path in covered:
        mine = [r for r in rows if r["experiment"] == str(path)]
        zoo = path.parent.name == "zoo"
        table.append(
            {
                "experiment": str(path.relative_to(chaos)),
                "seeds": len(mine),
                "identical": sum(r["same"] for r in mine),
                "expectation_met": sum(all(r["expectation_met"]) for r in mine),
                "zoo": zoo,
                "events_median": sorted(r["events"] for r in mine)[len(mine) // 2],
                "differences": [
                    {k: r[k] for k in ("seed", "diff", "lines")} for r in mine if not r["same"]
                ],
                "missed": [r["seed"] for r in mine if zoo and not all(r["expectation_met"])],
            }
        )
    bad = [t for t in table if t["differences"] or t["missed"]]
    if args.json:
        print(
            json.dumps(
                {
                    "seeds": args.seeds,
                    "wall_s": wall,
                    "experiments": table,
                    "refused": [str(p.relative_to(chaos)) for p in refused],
                    "ok": not bad,
                },
                indent=2,
            )
        )
    else:
        print(
            "| experiment | seeds | identical histories | expect met (zoo: caught) "
            "| events (median) |\n|---|---:|---:|---:|---:|"
        )
        for t in table:
            print(
                f"| {t['experiment']} | {t['seeds']} | {t['identical']}/{t['seeds']} | "
                f"{t['expectation_met']}/{t['seeds']}{_note(t['experiment'])} | "
                f"{t['events_median']} |"
            )
        print(
            f"\n{len(table)} experiments x {args.seeds} seeds, each run twice, in {wall} s; "
            f"not simulatable (refused): {', '.join(str(p.relative_to(chaos)) for p in refused)}"
        )
        for t in bad:
            for d in t["differences"]:
                print(
                    f"DIFFERENT {t['experiment']} seed {d['seed']} at event {d['diff']}:\n"
                    f"  {d['lines'][0]}\n  {d['lines'][1]}"
                )
            if t["missed"]:
                print(f"NOT CAUGHT {t['experiment']} seeds {t['missed']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
