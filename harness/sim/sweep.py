"""Same seed, same history: run an experiment twice under simulation and compare.

Used by ``benchmarks/sim_determinism.py`` (the 20-seed sweep of every experiment in chaos/),
``tests/sim/test_determinism.py`` and ``harness replay`` of a simulated run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = ["first_difference", "history_lines", "rerun_twice", "simulatable_experiments"]


def simulatable_experiments(chaos_dir: Path) -> tuple[list[Path], list[Path]]:
    """The experiment files under ``chaos_dir`` (incident files included) that a simulation
    covers, and those it refuses (network faults, services, black-box agents)."""
    from harness.chaos.experiment import load_experiment
    from harness.sim.run import check_simulatable

    every = sorted(
        p
        for p in chaos_dir.rglob("*.yaml")
        if "incidents" not in p.parts or p.parent.name == "incidents"
    )
    covered, refused = [], []
    for path in every:
        try:
            check_simulatable(load_experiment(path))
        except InputError:
            refused.append(path)
        else:
            covered.append(path)
    return covered, refused


def history_lines(run_dir: Path) -> list[str]:
    """A run's history events as canonical JSON lines, environment fields dropped."""
    from harness.sim import comparable

    return [
        json.dumps(comparable(json.loads(line)), sort_keys=True)
        for line in (Path(run_dir) / "history.jsonl").read_text().splitlines()
    ]


def first_difference(a: list[str], b: list[str]) -> int | None:
    """The index of the first event where two histories differ (a length difference counts at
    the shorter one's end); None when they are the same."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def rerun_twice(exp: Any, seed: int, out_dir: Path) -> dict[str, Any]:
    """Simulate ``exp`` twice with ``seed`` (into ``out_dir/a`` and ``out_dir/b``).

    Returns:
        seed; events (of the first run); same (histories equal event by event, virtual time
        and fired faults equal); diff (first differing index or None) and the two lines there;
        expectation_met (both runs, as a pair); valid (the first run's verdict); wall_s.
    """
    from harness.sim.run import simulate_experiment

    started = time.perf_counter()
    first = simulate_experiment(exp, seed=seed, out_dir=out_dir / "a")
    second = simulate_experiment(exp, seed=seed, out_dir=out_dir / "b")
    a, b = history_lines(out_dir / "a"), history_lines(out_dir / "b")
    diff = first_difference(a, b)
    same = (
        diff is None
        and first.simulation["virtual_s"] == second.simulation["virtual_s"]
        and first.fired == second.fired
    )
    return {
        "seed": seed,
        "events": len(a),
        "same": same,
        "diff": diff,
        "lines": None
        if diff is None
        else [a[diff] if diff < len(a) else None, b[diff] if diff < len(b) else None],
        "expectation_met": [first.expectation_met, second.expectation_met],
        "valid": first.valid,
        "wall_s": round(time.perf_counter() - started, 3),
    }
