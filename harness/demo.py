"""``harness demo``: the payments pipeline on N transactions, end to end."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import InputError
from harness.history import Recorder
from harness.pipeline import load_pipeline
from harness.run import PipelineRun, RunSummary
from harness.workload import payments_workload

__all__ = ["default_pipeline_path", "run_demo"]


def default_pipeline_path() -> Path:
    """examples/payments/pipeline.yaml in the source tree (or the current folder)."""
    here = Path(__file__).resolve()
    for parent in [*here.parents, Path.cwd()]:
        candidate = parent / "examples" / "payments" / "pipeline.yaml"
        if candidate.exists():
            return candidate
    raise InputError("examples/payments/pipeline.yaml not found: run from a source checkout "
                     "or pass --pipeline", where="--pipeline")


async def run_demo(
    *,
    broker: str = "memory",
    transactions: int = 300,
    seed: int = 0,
    store: str | None = None,
    pipeline: str | Path | None = None,
    out: str | Path | None = None,
    rate: float | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    timeout: float = 120.0,
) -> RunSummary:
    """Run the payments pipeline and return its summary.

    Args:
        broker: ``memory`` or ``amqp://...``.
        transactions: how many payment requests.
        seed: workload seed.
        store: store URL (default: SQLite in the run folder).
        pipeline: pipeline file (default: the bundled payments example).
        out: folder for history.jsonl and the SQLite store (default: a temp folder).
        rate: inputs per second (default: as fast as the broker takes them).
        progress: called with (sent, settled, total) as the run goes.
        timeout: seconds to wait for every input to settle.
    """
    if transactions < 1:
        raise InputError("must be at least 1", where="--transactions")
    spec = load_pipeline(pipeline or default_pipeline_path())
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="harness-demo-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{int(time.time() * 1000) % 10**8}-" if broker != "memory" else ""
    items = payments_workload(transactions, seed, run_tag=tag)
    with Recorder(run_dir / "history.jsonl") as recorder:
        run = PipelineRun(spec, broker=broker, store=store, recorder=recorder, run_dir=run_dir,
                          seed=seed)
        async with run:
            interval = 1.0 / rate if rate else 0.0
            for n, item in enumerate(items, start=1):
                if item.envelope is not None:
                    await run.send(item.envelope, expect=item.expect)
                else:
                    await run.send(item.body, correlation_id=item.correlation_id, valid=False,
                                   expect=item.expect)
                if progress and n % 25 == 0:
                    progress(n, len(run.terminal), len(items))
                if interval:
                    await asyncio.sleep(interval)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if await run.settle(timeout=0.5):
                    break
                if progress:
                    progress(len(items), len(run.terminal), len(items))
            if progress:
                progress(len(items), len(run.terminal), len(items))
            summary = await run.summary()
    return summary
