"""Simulated vs wall-clock time of one experiment (docs/simulation.md).

Runs the experiment (default chaos/sim/rides-eta-400ms.yaml: 200 rides at 5/s, ETA model 400 ms
slow) on the real clock once (the baseline) and under simulation ``--repeat`` times, and prints
medians: wall seconds, virtual seconds, CPU seconds, and the speed-up (real wall / simulated wall).

    PYTHONPATH=. python benchmarks/bench_sim.py [--experiment FILE] [--repeat 3] [--no-real]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from harness.chaos.experiment import load_experiment
from harness.chaos.runner import run_experiment
from harness.sim import simulate_experiment

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "chaos" / "sim" /
                                                     "rides-eta-400ms.yaml"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="skip the wall-clock baseline")
    args = parser.parse_args()
    exp = load_experiment(args.experiment)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    rows = []
    if not args.no_real:
        cpu0, t0 = time.process_time(), time.perf_counter()
        real = asyncio.run(run_experiment(exp, out_dir=tmp / "real"))
        rows.append(("real clock", time.perf_counter() - t0, time.perf_counter() - t0,
                     time.process_time() - cpu0, real.valid))
    walls, virtuals, cpus, valid = [], [], [], None
    for i in range(args.repeat):
        cpu0 = time.process_time()
        result = simulate_experiment(exp, out_dir=tmp / f"sim{i}")
        cpus.append(time.process_time() - cpu0)
        walls.append(result.simulation["wall_s"])
        virtuals.append(result.simulation["virtual_s"])
        valid = result.valid
    rows.append(("simulated", statistics.median(walls), statistics.median(virtuals),
                 statistics.median(cpus), valid))
    print(f"{exp.path.name}: {exp.count} inputs at {exp.rate}/s, seed {exp.seed}")
    print(f"{'mode':12} {'wall s':>8} {'covers s':>9} {'cpu s':>7} {'verdict':>8} "
          f"{'speed-up':>9} {'virtual/wall':>13}")
    base = rows[0][1] if not args.no_real else None
    for mode, wall, covered, cpu, ok in rows:
        speed = f"{base / wall:.1f}x" if base else "-"
        print(f"{mode:12} {wall:8.2f} {covered:9.2f} {cpu:7.2f} {ok!s:>8} {speed:>9} "
              f"{covered / wall:12.1f}x")


if __name__ == "__main__":
    main()
