"""Shrinking a failing run to the fewest inputs and pinned faults that still fail the same way.

Each candidate is a simulated run (same seed, same virtual clock), judged by one oracle: the
failure's checker is invalid with the same kind of violation (``exactly_once`` /
``duplicate_effect``); any other outcome, another failure included, counts as passing, so the
search never slips to a different bug. The steps (Zeller and Hildebrandt's ddmin, then values):

1. replay the written-down case twice: it must fail both times (else it is not reproducible);
2. ddmin over the faults (with every input), then over the inputs (a fault pinned to a dropped
   input goes with it), again until nothing more goes;
3. simplify what is left: each fault's numeric parameters halved (delays, copies, windows)
   while it still fails.

The result is 1-minimal: no single input or fault can be removed.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.chaos.experiment import Experiment
from harness.chaos.schedule import FaultSpec
from harness.errors import InputError
from harness.sim.case import Case, Failure, case_experiment, case_from_run, write_case
from harness.sim.run import check_simulatable, simulate_experiment

__all__ = ["ShrinkResult", "ddmin", "shrink_case", "shrink_run"]

T = TypeVar("T")
Progress = Callable[[str], None]


def ddmin(items: list[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """A 1-minimal sublist of ``items`` for which ``fails`` still holds (``fails(items)`` is
    assumed). Tries the empty list first."""
    if items and fails([]):
        return []
    n = 2
    while len(items) >= 2:
        size = len(items)
        chunks = [items[i * size // n:(i + 1) * size // n] for i in range(n)]
        for chunk in chunks:
            if chunk and fails(chunk):
                items, n = chunk, 2
                break
        else:
            for i in range(n):
                rest = [x for j, c in enumerate(chunks) if j != i for x in c]
                if rest and len(rest) < size and fails(rest):
                    items, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= size:
                    break
                n = min(2 * n, size)
    if len(items) == 1 and fails([]):
        return []
    return items


@dataclass
class ShrinkResult:
    """What shrinking found.

    Attributes:
        failure: the checker and kind of violation kept.
        before: inputs and faults of the run as written down.
        after: inputs and faults of the minimal case.
        runs: simulated runs made.
        reproducible: whether the written-down case failed on both replays.
        case: the minimal case.
        files: written files (experiment, test).
    """

    failure: Failure
    before: dict[str, int]
    after: dict[str, int]
    runs: int
    reproducible: bool
    case: Case
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"checker": self.failure.checker, "kind": self.failure.kind,
                "before": self.before, "after": self.after, "runs": self.runs,
                "reproducible": self.reproducible, "files": self.files,
                "inputs": [i.correlation_id for i in self.case.inputs],
                "faults": [{"fault": f.fault, "target": f.target, "message": f.message,
                            "correlation": f.correlation, "params": f.params}
                           for f in self.case.faults],
                "wall_s": self.wall_s}


class _Oracle:
    def __init__(self, exp: Experiment, seed: int, failure: Failure, max_runs: int,
                 progress: Progress | None) -> None:
        self.exp, self.seed, self.failure = exp, seed, failure
        self.max_runs = max_runs
        self.progress = progress
        self.cache: dict[tuple[Any, ...], bool] = {}
        self.runs = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="harness-shrink-"))

    def run(self, case: Case) -> bool:
        if not case.inputs:
            return False
        key = case.key()
        if key in self.cache:
            return self.cache[key]
        if self.runs >= self.max_runs:
            return False  # out of budget: treat as passing (keeps what we have)
        self.runs += 1
        result = simulate_experiment(case_experiment(self.exp, case, self.failure),
                                     seed=self.seed, out_dir=self.tmp / "run")
        verdict = self.failure.seen_in(result.verdicts)
        self.cache[key] = verdict
        if self.progress:
            self.progress(f"run {self.runs}: {len(case.inputs)} inputs, {len(case.faults)} "
                          f"faults -> {'fails' if verdict else 'passes'}")
        return verdict


def _halved(f: FaultSpec) -> list[FaultSpec]:
    """Simpler versions of a fault: numeric parameters and windows halved."""
    out: list[FaultSpec] = []
    for key, value in f.params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 1:
            continue
        smaller = value // 2 if isinstance(value, int) else round(value / 2, 3)
        out.append(dataclasses.replace(f, params={**f.params, key: smaller}))
    if isinstance(f.duration, (int, float)) and f.duration > 0.01:
        out.append(dataclasses.replace(f, duration=round(f.duration / 2, 4)))
    return out


def shrink_case(exp: Experiment, seed: int, case: Case, failure: Failure, *,
                max_runs: int = 300, progress: Progress | None = None
                ) -> tuple[Case, int, bool]:
    """The minimal case, the runs it took, and whether the starting case reproduced."""
    oracle = _Oracle(exp, seed, failure, max_runs, progress)
    first = oracle.run(case)
    oracle.cache.pop(case.key(), None)
    second = oracle.run(case)
    if not (first and second):
        return case, oracle.runs, False
    for _ in range(4):
        before = case.key()
        inputs = case.inputs
        faults = ddmin(case.faults,
                       lambda fs, ins=inputs: oracle.run(Case(ins, fs)))  # type: ignore[misc]
        case = Case(inputs, faults)
        kept = ddmin(case.inputs,
                     lambda ins, c=case: oracle.run(c.with_inputs(ins)))  # type: ignore[misc]
        case = case.with_inputs(kept)
        if case.key() == before:
            break
    for i in range(len(case.faults)):
        changed = True
        while changed:
            changed = False
            for simpler in _halved(case.faults[i]):
                faults = [*case.faults[:i], simpler, *case.faults[i + 1:]]
                if oracle.run(Case(case.inputs, faults)):
                    case = Case(case.inputs, faults)
                    changed = True
                    break
    return case, oracle.runs, True


def shrink_run(run_dir: str | Path, *, out_dir: str | Path | None = None,
               checker: str | None = None, max_runs: int = 300,
               progress: Progress | None = None) -> ShrinkResult:
    """Shrink a stored failing run and write ``shrunk.yaml`` and ``test_shrunk.py``.

    Raises:
        InputError: not a failing chaos run, or one the simulation does not cover.
    """
    from harness.sim.world import real_perf_counter

    t0 = real_perf_counter()
    exp, seed, case, failure = case_from_run(run_dir, checker=checker)
    check_simulatable(exp)
    before = {"inputs": len(case.inputs), "faults": len(case.faults)}
    small, runs, reproducible = shrink_case(exp, seed, case, failure, max_runs=max_runs,
                                            progress=progress)
    result = ShrinkResult(failure, before, {"inputs": len(small.inputs),
                                            "faults": len(small.faults)},
                          runs, reproducible, small)
    if not reproducible:
        raise InputError(f"the run does not fail the same way ({failure.checker}: "
                         f"{failure.kind}) when replayed from its written-down inputs and "
                         "faults under simulation; nothing to shrink", where=str(run_dir))
    out = Path(out_dir) if out_dir else Path(run_dir) / "shrunk"
    name = exp.path.stem
    case_path = write_case(exp, seed, small, failure, out / "shrunk.yaml",
                           title=f"{exp.title} (shrunk: {failure.checker} {failure.kind})",
                           description=f"Shrunk by harness chaos shrink from {run_dir} "
                                       f"({before['inputs']} inputs, {before['faults']} faults).")
    test_path = write_test(out / f"test_shrunk_{_ident(name)}.py", case_path, failure, name,
                           str(run_dir))
    result.files = {"experiment": str(case_path), "test": str(test_path)}
    result.wall_s = round(real_perf_counter() - t0, 3)
    return result


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower() or "case"


def write_test(path: Path, case_path: Path, failure: Failure, name: str, source: str) -> Path:
    """A ready-to-paste pytest test: fails while the bug is there, passes once fixed."""
    path.write_text(f'''"""Minimal failing case of {name}, shrunk by `harness chaos shrink`
from {source}.

{failure.checker} finds {failure.kind} while the bug is there; this test fails until the agent
is fixed, then passes. Keep {case_path.name} beside it (it holds the inputs and pinned faults).
`run_case(variants={{}})` runs the pipeline's own agents instead of the file's variants.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.chaos.experiment import load_experiment
from harness.sim import simulate_experiment

CASE = Path(__file__).with_name("{case_path.name}")


def run_case(variants: dict[str, str] | None = None):
    exp = load_experiment(CASE)
    if variants is not None:
        exp = dataclasses.replace(exp, variants=variants)
    return simulate_experiment(exp, out_dir=None)


def test_{_ident(name)}_keeps_{_ident(failure.checker)}():
    verdict = run_case().verdicts["{failure.checker}"]
    assert verdict.valid is True, f"{failure.checker}: {{dict(verdict.examples)}}"
''', encoding="utf-8")
    return path
