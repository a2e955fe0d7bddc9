"""Zero false alarms: every correct example experiment in chaos/ run on many seeds, on the
wall clock (not simulated), on one broker (issue 12; docs/detection.md).

    PYTHONPATH=. python benchmarks/false_alarms.py [--seeds 20] [--broker memory|amqp://...]
        [--only GLOB] [--json]

Correct experiments: chaos/**/*.yaml that expect a valid run, except the bug zoo (zoo/),
incident files (incidents/) and the simulation-speed experiment (sim/). Seed i is 1..N. Each
run is ``harness chaos run FILE --seed S --broker B --json`` in its own process
(``--toxiproxy embedded`` when the file has network faults); a row counts the runs that met
their expectation and names the checkers of the others. The agent-broker link experiments
(network/) run only on amqp://, through the proxy ``rabbit`` (the broker URL's host becomes
``${HARNESS_PROXY_RABBIT}``, as docs/chaos.md shows); on memory they are listed as not run.
Experiments that name their own broker (polyglot/: RabbitMQ, PostgreSQL and ``npm ci`` in
examples/polyglot/node) run there whatever ``--broker`` says. Exit 1 when any run raised an
alarm.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKIP = ("zoo", "incidents", "sim")


def correct_experiments(chaos: Path) -> list[Path]:
    """The experiments that describe a correct pipeline: ``expect: {valid: true}``, outside
    the zoo, the incidents and the simulation-speed experiment."""
    from harness.chaos.experiment import load_experiment

    return sorted(
        p
        for p in chaos.rglob("*.yaml")
        if p.relative_to(chaos).parts[0] not in SKIP and load_experiment(p).expect_valid is True
    )


def _command(path: Path, broker: str) -> list[str] | None:
    """The run's broker and network arguments; None when it cannot run on this broker."""
    from harness.chaos.experiment import load_experiment
    from harness.sim import SIMULATED_FAULTS

    network = any(f.fault not in SIMULATED_FAULTS for f in load_experiment(path).faults)
    if path.parent.name == "network":  # the agent-broker link: through the proxy "rabbit"
        if not broker.startswith("amqp://"):
            return None
        host = broker.split("@", 1)[-1].split("/", 1)[0]
        broker = broker.replace(host, "${HARNESS_PROXY_RABBIT}", 1)
    return ["--broker", broker] + (["--toxiproxy", "embedded"] if network else [])


def run_one(path: Path, seed: int, broker: str, out: Path) -> dict[str, Any]:
    """One run in its own process; returns seed, met (None: not run), failing checkers,
    error, wall_s."""
    started = time.perf_counter()
    args = _command(path, broker)
    if args is None:
        return {"seed": seed, "met": None, "failing": [], "wall_s": 0.0, "error": "not run"}
    cmd = [sys.executable, "-m", "harness.cli", "chaos", "run", str(path), "--seed", str(seed)]
    cmd += ["--out", str(out), "--json", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = round(time.perf_counter() - started, 1)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return {
            "seed": seed,
            "met": False,
            "failing": [],
            "wall_s": wall,
            "error": (proc.stderr.strip().splitlines() or ["no output"])[-1],
        }
    failing = sorted(k for k, v in data.get("verdicts", {}).items() if v.get("valid") is not True)
    return {
        "seed": seed,
        "met": bool(data.get("expectation_met")),
        "failing": failing,
        "wall_s": wall,
        "error": None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--broker", default="memory")
    parser.add_argument("--only", default="*", help="glob over paths relative to chaos/")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    chaos = ROOT / "chaos"
    paths = [
        p
        for p in correct_experiments(chaos)
        if fnmatch.fnmatch(str(p.relative_to(chaos)), args.only)
    ]
    if not paths or args.seeds < 1:
        print(
            "nothing to run (--only matches no correct experiment, or --seeds < 1)", file=sys.stderr
        )
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="false-alarms-"))
    table = []
    for path in paths:
        rows = [
            run_one(path, s, args.broker, tmp / path.stem / str(s))
            for s in range(1, args.seeds + 1)
        ]
        table.append(
            {
                "experiment": str(path.relative_to(chaos)),
                "runs": len(rows),
                "met": sum(r["met"] is True for r in rows),
                "not_run": sum(r["met"] is None for r in rows),
                "alarms": [r for r in rows if r["met"] is False],
                "median_wall_s": sorted(r["wall_s"] for r in rows)[len(rows) // 2],
            }
        )
        if not args.json:
            t = table[-1]
            if t["not_run"]:
                print(
                    f"| {t['experiment']} | {args.broker.split('://')[0]} | not run (needs "
                    "an amqp:// broker link) | | |",
                    flush=True,
                )
                continue
            print(
                f"| {t['experiment']} | {args.broker.split('://')[0]} | {t['met']}/{t['runs']} "
                f"| {t['median_wall_s']} | "
                + "; ".join(
                    f"seed {a['seed']}: {a['error'] or ', '.join(a['failing'])}"
                    for a in t["alarms"]
                )
                + " |",
                flush=True,
            )
    if args.json:
        print(
            json.dumps({"broker": args.broker, "seeds": args.seeds, "experiments": table}, indent=2)
        )
    return 1 if any(t["alarms"] for t in table) else 0


if __name__ == "__main__":
    sys.exit(main())
