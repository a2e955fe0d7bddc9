"""The test command of the mutation benchmark: the harness's own suites on one example.

``python benchmarks/mutation_check.py payments|rides|media`` runs, in one process, cheapest
first, stopping at the first failure (exit 1; exit 0 when everything holds):

1. contracts (payments: every producer verified against its consumers' pacts);
2. fuzz: every agent of the pipeline, a few seeded inputs each;
3. chaos: the example's correct experiments (chaos/*.yaml, with their business rules) on a
   fixed seed, memory broker, every checker, under deterministic simulation
   (docs/simulation.md): the virtual clock makes every interleaving, timeout and fault window a
   function of the seed, so a mutant's fate does not depend on the machine's load, and latency
   is what the pipeline declares, not CPU time.

A mutant survives when all of that still passes. See docs/detection.md.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = {
    "payments": ["payments-message-faults", "payments-process-faults"],
    "rides": ["rides-slow-eta"],
    "media": ["media-choreography"],
}
SEEDS = (1,)
FUZZ_EXAMPLES = 5


def contracts(example: str) -> str | None:
    if example != "payments":
        return None
    from harness.contracts.target import resolve_target
    from harness.contracts.verify import verify_provider
    from harness.pipeline import load_pipeline

    pipeline = ROOT / "examples" / "payments" / "pipeline.yaml"
    for provider in load_pipeline(pipeline).agents:
        target = resolve_target(provider, pipeline=pipeline)
        report = verify_provider(target, pacts=str(target.registry.root / "pacts"), quiet=True)
        if not report.ok:
            return f"contracts: {provider} fails its consumers' pacts"
    return None


def fuzz(example: str) -> str | None:
    from harness.fuzz.runner import fuzz_pipeline

    report = fuzz_pipeline(ROOT / "examples" / example / "pipeline.yaml",
                           examples=FUZZ_EXAMPLES, seed_=1)
    return None if report.ok else f"fuzz: {example} fails"


def chaos(example: str) -> str | None:
    from harness.chaos.experiment import load_experiment
    from harness.checkers.base import overall
    from harness.sim import simulate_experiment

    for name in EXPERIMENTS[example]:
        exp = load_experiment(ROOT / "chaos" / f"{name}.yaml")
        for seed in SEEDS:
            with tempfile.TemporaryDirectory() as out:
                result = simulate_experiment(exp, seed=seed, out_dir=out)
            if overall(result.verdicts) is not True:
                bad = sorted(k for k, v in result.verdicts.items() if v.valid is not True)
                return f"chaos: {name} seed {seed}: {', '.join(bad)}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in EXPERIMENTS:
        print(f"usage: mutation_check.py {'|'.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    example = argv[0]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        failure = contracts(example) or fuzz(example) or chaos(example)
    print(failure or "all checks hold")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
