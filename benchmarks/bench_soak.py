"""Resident memory of a soak, measured from outside the process (issue 17).

    PYTHONPATH=. python benchmarks/bench_soak.py [--sizes 50000,200000] [--window 500]
        [--pipeline examples/payments/pipeline.yaml] [--keep DIR]

Runs ``harness run PIPELINE --transactions N --window W --json`` on the memory broker as a
child process for each size and reads its peak resident set size from the kernel when it
exits (``os.wait4``'s ru_maxrss: the same figure as ``/usr/bin/time -v``). The baseline is the
smallest size, run in the same invocation: "flat" means the larger runs' peak stays within
20% of it. Also prints events recorded, history size and inputs/s, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def soak(pipeline: str, n: int, window: int, out: Path) -> dict:
    cmd = [
        shutil.which("harness") or "harness",
        "run",
        pipeline,
        "--transactions",
        str(n),
        "--seed",
        "1",
        "--out",
        str(out),
        "--window",
        str(window),
        "--timeout",
        "600",
        "--json",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    with open(out.parent / f"stdout-{n}.json", "wb") as fh:
        child = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - t0
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    summary = json.loads((out.parent / f"stdout-{n}.json").read_text() or "{}")
    history = out / "history.jsonl"
    with open(history, "rb") as fh:
        events = sum(1 for _ in fh)
    return {
        "inputs": n,
        "rss_mb": usage.ru_maxrss / 1024,
        "status": os.waitstatus_to_exitcode(status),
        "events": events,
        "history_mb": history.stat().st_size / 1e6,
        "inputs_s": n / elapsed,
        "ok": summary.get("ok"),
        "lost": summary.get("lost"),
        "stderr": err[-300:],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50000,200000")
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--pipeline", default="examples/payments/pipeline.yaml")
    ap.add_argument("--keep", default=None, help="keep the run folders here")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="soak-"))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; load "
        f"{os.getloadavg()[0]:.2f}; harness run {args.pipeline} --window {args.window}"
    )
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = base / f"run-{n}"
        rows.append(soak(args.pipeline, n, args.window, out))
        if not args.keep:
            (out / "history.jsonl").unlink(missing_ok=True)
    print(
        f"\n{'inputs':>8} {'events':>9} {'history MB':>10} {'max RSS MB':>10} "
        f"{'x first':>8} {'inputs/s':>9} {'exit':>5} {'lost':>5}"
    )
    first = rows[0]["rss_mb"]
    for r in rows:
        print(
            f"{r['inputs']:>8} {r['events']:>9} {r['history_mb']:>10.1f} "
            f"{r['rss_mb']:>10.1f} {r['rss_mb'] / first:>8.2f} {r['inputs_s']:>9.0f} "
            f"{r['status']:>5} {r['lost']!s:>5}"
        )
        if r["status"] not in (0, 1):
            print("   stderr:", r["stderr"])
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
