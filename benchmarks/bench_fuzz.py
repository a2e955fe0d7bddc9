"""Ingress-fuzzing throughput: examples per second per agent on the memory transport.

    PYTHONPATH=. python benchmarks/bench_fuzz.py [--examples 500] [--runs 3] [--seed 1] [--json]

Each run fuzzes every agent of the payments pipeline with ``--examples`` inputs (valid, mutated
and prompt-injected envelopes through the agent's real runtime via AgentProbe, properties
checked, heartbeat after each invalid input). Reported: the median over ``--runs`` of inputs /
wall-clock seconds (generation, oracle, delivery and checks included; pipeline loading and
strategy building excluded), plus the time of one whole ``fuzz_pipeline`` call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.contracts.registry import SchemaRegistry  # noqa: E402
from harness.fuzz.runner import fuzz_agent, fuzz_pipeline  # noqa: E402
from harness.pipeline import load_pipeline  # noqa: E402

PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = load_pipeline(PIPELINE)
    registry = SchemaRegistry(spec.registry_path)
    rows = []
    for name, aspec in spec.agents.items():
        rates = []
        for run in range(args.runs):
            report = fuzz_agent(aspec.agent, registry, examples=args.examples,
                                seed_=args.seed + run, params=aspec.params,
                                dependencies=aspec.dependencies)
            assert report.ok, report.to_dict()
            rates.append(report.inputs / report.elapsed_s)
        rows.append({"agent": name, "examples": args.examples, "runs": args.runs,
                     "median_examples_per_s": round(statistics.median(rates), 1),
                     "min": round(min(rates), 1), "max": round(max(rates), 1)})
    started = time.monotonic()
    whole = fuzz_pipeline(PIPELINE, examples=args.examples, seed_=args.seed)
    total_s = time.monotonic() - started
    result = {"pipeline": str(PIPELINE.relative_to(ROOT)), "agents": rows,
              "fuzz_pipeline_s": round(total_s, 1), "ok": whole.ok,
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "load_avg": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'agent':<14} {'examples':>8} {'median ex/s':>12} {'min':>8} {'max':>8}")
    for row in rows:
        print(f"{row['agent']:<14} {row['examples']:>8} {row['median_examples_per_s']:>12} "
              f"{row['min']:>8} {row['max']:>8}")
    print(f"fuzz_pipeline, all {len(rows)} agents x {args.examples}: {total_s:.1f} s "
          f"(ok={whole.ok}); python {result['python']}, {result['cpus']} CPUs, "
          f"load {result['load_avg']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
