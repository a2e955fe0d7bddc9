"""Benchmark: message-pact verification (issue 5).

1. Verify every producer of the payments example against all bundled pacts (contracts/pacts/).
2. Verify one provider (fraud) against one pact of N generated message interactions (default 200),
   alternating its two provider states.

Each interaction goes through pact-python's Rust verifier and the provider agent's real runtime
(AgentProbe, one per interaction). Run::

    PYTHONPATH=. PACT_DO_NOT_TRACK=true python benchmarks/bench_contracts.py [--repeat 5] [--n 200]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.contracts.pactfiles import load_pacts
from harness.contracts.registry import default_registry_path
from harness.contracts.target import resolve_target
from harness.contracts.verify import verify_provider

PACTS = default_registry_path() / "pacts"


def verify_all() -> tuple[float, int]:
    start = time.perf_counter()
    count = 0
    for provider in sorted({p.provider for p in load_pacts(PACTS)}):
        report = verify_provider(resolve_target(provider), pacts=PACTS)
        assert report.ok, report.to_dict()
        count += len(report.outcomes)
    return time.perf_counter() - start, count


def generated_pact(n: int, folder: Path) -> Path:
    [base] = load_pacts(PACTS / "authorization-fraud.json")
    doc = copy.deepcopy(base.data)
    templates = doc["interactions"]
    doc["interactions"] = []
    for i in range(n):
        inter = copy.deepcopy(templates[i % len(templates)])
        inter["description"] = f"{inter['description']} #{i:04d}"
        doc["interactions"].append(inter)
    path = folder / "authorization-fraud.json"
    path.write_text(json.dumps(doc))
    return path


def verify_generated(n: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = generated_pact(n, Path(tmp))
        target = resolve_target("fraud")
        start = time.perf_counter()
        report = verify_provider(target, pacts=path)
        elapsed = time.perf_counter() - start
    assert report.ok and len(report.outcomes) == n, report.to_dict()
    return elapsed, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    verify_all()  # warm-up: imports, FFI initialisation
    rows = []
    cases = (("all example pacts", verify_all),
             (f"{args.n} generated interactions (fraud)", lambda: verify_generated(args.n)))
    for name, fn in cases:
        times, count = [], 0
        for _ in range(args.repeat):
            elapsed, count = fn()
            times.append(elapsed)
        rows.append((name, count, statistics.median(times), min(times), max(times)))
    print("| case | interactions | median s | min s | max s | ms/interaction |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, count, med, lo, hi in rows:
        print(f"| {name} | {count} | {med:.3f} | {lo:.3f} | {hi:.3f} | {1000 * med / count:.1f} |")


if __name__ == "__main__":
    main()
