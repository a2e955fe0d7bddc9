"""CPU per payment of the harness row, this checkout against a git revision, in ONE process.

On a shared machine the same code's CPU per payment moves by +-20% between runs (the load of the
moment, caches), more than most hot-path changes. So both versions are loaded into one process
(the revision's ``harness`` package renamed ``harness_base``, its imports rewritten, with its own
``examples`` and ``contracts``) and their runs alternate (ABBA...): whatever the machine does
falls on both alike. Each run is the ``harness <broker>`` row of bench_pipeline.py (payments
pipeline, SQLite store, history recorded to a file); the figure is this process's CPU time from
the first send to settled, per payment, and its wall time.

Usage::

    PYTHONPATH=. python benchmarks/runtime_ab.py [--base main] [--broker memory] [--n N] [--reps R]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.bench_pipeline import feed

ROOT = Path(__file__).resolve().parents[1]
_IMPORTS = re.compile(r"\b(from|import) harness\b")


def export_base(rev: str, into: Path) -> None:
    """``rev``'s harness (as harness_base), examples and contracts under ``into``."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "harness", "examples",
                           "contracts"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "harness").rename(into / "harness_base")
    for path in [*(into / "harness_base").rglob("*.py"), *(into / "examples").rglob("*.py"),
                 *(into / "examples").rglob("*.yaml")]:
        text = path.read_text()
        new = _IMPORTS.sub(r"\1 harness_base", text).replace('"harness.', '"harness_base.')
        new = new.replace("harness_user.", "harness_base_user.").replace(
            "workload: harness.", "workload: harness_base.")
        if new != text:
            path.write_text(new)


def variant(pkg: str) -> dict[str, Any]:
    def mod(name: str) -> Any:
        return importlib.import_module(f"{pkg}.{name}")

    return {"path": mod("demo").default_pipeline_path, "Recorder": mod("history").Recorder,
            "load": mod("pipeline").load_pipeline, "Run": mod("run").PipelineRun,
            "workload": mod("workload").payments_workload}


async def one(v: dict[str, Any], broker: str, n: int, seed: int) -> tuple[float, float]:
    """(CPU ms per payment, wall seconds) from the first send to settled."""
    spec = v["load"](v["path"]())
    items = v["workload"](n, seed, invalid_rate=0, high_risk_rate=0,
                          run_tag=f"ab{uuid.uuid4().hex[:6]}-")
    with tempfile.TemporaryDirectory(prefix="ab-") as tmp:
        rec = v["Recorder"](Path(tmp) / "history.jsonl", keep=False)
        async with v["Run"](spec, broker=broker, recorder=rec, run_dir=tmp) as run:
            cpu, t0 = time.process_time(), time.perf_counter()
            await feed([i.envelope for i in items],
                       lambda env: run.send(env, expect="completed"))  # type: ignore[no-any-return]
            ok = await run.settle(timeout=300)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
            if not (ok and len(run.terminal) == n and set(run.terminal.values()) == {"completed"}):
                raise SystemExit(f"a run on {broker} did not complete cleanly")
        rec.close()
    return cpu / n * 1000, wall


async def main_async(args: argparse.Namespace) -> None:
    variants = {"base": variant("harness_base"), "this": variant("harness")}
    for v in variants.values():
        await one(v, args.broker, 30, 99)  # imports, validators, connections
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for rep in range(args.reps):
        for name in (list(variants) if rep % 2 == 0 else list(reversed(variants))):
            runs[name].append(await one(variants[name], args.broker, args.n, rep))
    for name, rs in runs.items():
        print(f"{name:5} {args.broker[:8]:8} n={args.n}  CPU ms/pay median "
              f"{statistics.median(c for c, _ in rs):.3f} (runs "
              f"{' '.join(f'{c:.2f}' for c, _ in rs)})  wall median "
              f"{statistics.median(w for _, w in rs):.2f} s")
    pairs = [t[0] / b[0] for t, b in zip(runs["this"], runs["base"], strict=True)]
    print(f"this/base CPU per payment: median of the {len(pairs)} pairs "
          f"{statistics.median(pairs):.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="main", help="git revision to compare with (default main)")
    p.add_argument("--broker", default="memory", help="memory or a broker URL (default memory)")
    p.add_argument("--n", type=int, default=300, help="payments per run (default 300)")
    p.add_argument("--reps", type=int, default=8, help="runs of each version (default 8)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ab-base-") as tmp:
        export_base(args.base, Path(tmp))
        sys.path.insert(0, tmp)
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
