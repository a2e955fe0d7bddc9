"""Ingress-fuzzing throughput: examples per second per agent on the memory transport, against a
raw-Hypothesis baseline measured in the same run.

    PYTHONPATH=. python benchmarks/bench_fuzz.py [--examples 500] [--runs 3] [--seed 1] [--json]

For every agent of the payments pipeline, ``--runs`` times (seeds S, S+1, ...), alternating:

- **harness**: ``fuzz_agent`` with ``--examples`` inputs: valid, mutated and prompt-injected
  envelopes, each classified by the oracle, delivered through the agent's real runtime
  (AgentProbe, memory transport) and checked (emissions re-validated, dead letter, effects,
  canaries, benign twin for injections, a heartbeat after each invalid input);
- **baseline**: what a hand-written Hypothesis test of the same ingress costs without the
  harness: ``@given(hypothesis_jsonschema.from_schema(schema))`` over the agent's consumed
  schemas (same settings: seed, no database, no deadline), each example wrapped in an envelope,
  serialised, parsed back and validated once with a plain jsonschema validator. No agent runs.

Reported per agent: the median of examples per wall-clock second and per CPU second (what
the example costs in CPU, less sensitive to other jobs on a shared machine; for the harness,
this process's and the forked child's that takes half of a budget of 200 or more on a machine
with two processors, ``HARNESS_FUZZ_PROCESSES=1`` keeps it to one), and the ratio harness /
baseline of each. Pipeline loading and strategy
building are excluded from both. The machine's load average is printed beside the figures.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis_jsonschema import from_schema  # noqa: E402
from jsonschema import Draft7Validator  # noqa: E402

from benchmarks.cpu import cpu_seconds  # noqa: E402
from harness.contracts.registry import SchemaRegistry  # noqa: E402
from harness.envelope import Envelope  # noqa: E402
from harness.fuzz.runner import fuzz_agent  # noqa: E402
from harness.fuzz.strategies import PayloadStrategies, _strip, envelope_for  # noqa: E402
from harness.pipeline import load_pipeline  # noqa: E402

PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"


def baseline(
    agent: Any, registry: SchemaRegistry, examples: int, seed_: int
) -> tuple[int, float, float]:
    """Raw Hypothesis over the agent's ingress schemas: (examples, wall s, CPU s)."""
    payloads = PayloadStrategies(registry)
    refs = [r for r in agent.consumes if (r.type, r.version) in registry]
    schemas = {r: payloads.inlined(r) for r in refs}
    checks = {r: Draft7Validator(_strip(s)) for r, s in schemas.items()}
    strategy = st.one_of(
        [st.tuples(st.just(r), from_schema(_strip(s))) for r, s in schemas.items()]
    )
    done = [0]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate,),
        verbosity=Verbosity.quiet,
    )
    @seed(seed_)
    @given(strategy)
    def prop(drawn: tuple[Any, Any]) -> None:
        ref, payload = drawn
        body = envelope_for(ref, payload, "fz-baseline").to_bytes()
        env = Envelope.from_bytes(body)
        checks[ref].is_valid(env.payload)
        done[0] += 1

    wall, cpu = time.monotonic(), time.process_time()
    prop()
    return done[0], time.monotonic() - wall, time.process_time() - cpu


def harness(
    aspec: Any, registry: SchemaRegistry, examples: int, seed_: int
) -> tuple[int, float, float]:
    """``fuzz_agent``: (inputs, wall s as the report measures it, CPU s of this process and
    of the child that takes half of the budget, harness.fuzz.runner.fuzz_agent)."""
    cpu = cpu_seconds()
    report = fuzz_agent(
        aspec.agent,
        registry,
        examples=examples,
        seed_=seed_,
        params=aspec.params,
        dependencies=aspec.dependencies,
    )
    cpu = cpu_seconds() - cpu
    assert report.ok, report.to_dict()
    return report.inputs, report.elapsed_s, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = load_pipeline(PIPELINE)
    registry = SchemaRegistry(spec.registry_path)
    load_before = os.getloadavg()
    rows = []
    for name, aspec in spec.agents.items():
        rates: dict[str, list[float]] = {"h_wall": [], "h_cpu": [], "b_wall": [], "b_cpu": []}
        for run in range(args.runs):
            n, wall, cpu = baseline(aspec.agent, registry, args.examples, args.seed + run)
            rates["b_wall"].append(n / wall)
            rates["b_cpu"].append(n / cpu)
            n, wall, cpu = harness(aspec, registry, args.examples, args.seed + run)
            rates["h_wall"].append(n / wall)
            rates["h_cpu"].append(n / cpu)
        med = {k: statistics.median(v) for k, v in rates.items()}
        rows.append(
            {
                "agent": name,
                "examples": args.examples,
                "runs": args.runs,
                "harness_per_s": round(med["h_wall"], 1),
                "harness_per_cpu_s": round(med["h_cpu"], 1),
                "baseline_per_s": round(med["b_wall"], 1),
                "baseline_per_cpu_s": round(med["b_cpu"], 1),
                "ratio_wall": round(med["h_wall"] / med["b_wall"], 2),
                "ratio_cpu": round(med["h_cpu"] / med["b_cpu"], 2),
                "harness_min_max_per_s": [
                    round(min(rates["h_wall"]), 1),
                    round(max(rates["h_wall"]), 1),
                ],
            }
        )
    result = {
        "pipeline": str(PIPELINE.relative_to(ROOT)),
        "agents": rows,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{'agent':<14} {'harness ex/s':>12} {'ex/cpu-s':>9} {'baseline ex/s':>13} "
        f"{'ex/cpu-s':>9} {'ratio wall':>10} {'ratio cpu':>9}"
    )
    for r in rows:
        print(
            f"{r['agent']:<14} {r['harness_per_s']:>12} {r['harness_per_cpu_s']:>9} "
            f"{r['baseline_per_s']:>13} {r['baseline_per_cpu_s']:>9} {r['ratio_wall']:>10} "
            f"{r['ratio_cpu']:>9}"
        )
    print(
        f"medians of {args.runs} runs x {args.examples} examples (seeds {args.seed}.."
        f"{args.seed + args.runs - 1}); python {result['python']}, {result['cpus']} CPUs, "
        f"load {result['load_avg_before']} -> {result['load_avg_after']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
