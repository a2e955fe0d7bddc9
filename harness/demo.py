"""``harness demo``: the payments pipeline on N transactions, end to end (``harness run`` on
the bundled example, through :func:`harness.engine.run_pipeline`)."""

from __future__ import annotations

from pathlib import Path

from harness.engine import Progress, run_pipeline
from harness.errors import InputError
from harness.run import RunSummary

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
    progress: Progress | None = None,
    timeout: float = 120.0,
) -> RunSummary:
    """Run the payments pipeline (or ``pipeline``) and return its summary."""
    return await run_pipeline(pipeline or default_pipeline_path(), broker=broker,
                              transactions=transactions, seed=seed, store=store, out=out,
                              rate=rate, timeout=timeout, progress=progress)
