"""The one way a run is driven: feed a workload (optionally at a rate), settle, summarise.

``harness demo``, ``harness run`` (in-process and ``--processes``) and ``harness chaos run`` all
use :func:`feed` and :func:`settle`; :func:`run_pipeline` is the whole of ``demo``/``run``::

    summary = await run_pipeline("examples/rides/pipeline.yaml", transactions=100, seed=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from harness.errors import InputError, TransportError
from harness.history import Recorder
from harness.pipeline import PipelineSpec, load_pipeline
from harness.run import PipelineRun, RunSummary
from harness.workload import WorkItem, make_workload

__all__ = ["Progress", "feed", "open_run", "run_pipeline", "send_item", "settle"]

#: called with (phase, sent, settled, total); phase is ``sending`` or ``settling``
Progress = Callable[[str, int, int, int], None]


async def send_item(run: PipelineRun, item: WorkItem, *, retries: int = 5) -> None:
    """Send one input; a lost publisher confirm (TransportError) makes the producer retry,
    as a real producer would (the retry is a duplicate the pipeline must tolerate)."""
    for attempt in range(retries + 1):
        try:
            if item.envelope is not None:
                await run.send(item.envelope, expect=item.expect)
            else:
                await run.send(item.body, correlation_id=item.correlation_id, valid=False,
                               expect=item.expect)
            return
        except TransportError:
            if attempt == retries:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))


async def feed(run: PipelineRun, items: Sequence[WorkItem], *, rate: float | None = None,
               progress: Progress | None = None, every: int = 25,
               window: int | None = None) -> None:
    """Send every input in order, at ``rate`` per second (None or 0: as fast as possible),
    with at most ``window`` inputs in flight (sent, without a fate yet) when given."""
    interval = 1.0 / rate if rate else 0.0
    t0 = time.monotonic()
    for n, item in enumerate(items, start=1):
        if window and n % window == 0:  # the broker's dead letters hold their whole bodies
            await run.drain_dead_letters()
        waits = 0
        while window and len(run.pending) >= window:
            run.pump()
            waits += 1
            if waits % 50 == 0:  # dead letters the broker made are known only from its queues
                await run.drain_dead_letters()
            await asyncio.sleep(0.002)  # the agents (same loop or other processes) settle some
        await send_item(run, item)
        if progress and n % every == 0:
            progress("sending", n, run.settled_count, len(items))
        if interval:
            await asyncio.sleep(max(0.0, t0 + n * interval - time.monotonic()))


async def settle(run: PipelineRun, timeout: float, *, progress: Progress | None = None,
                 total: int | None = None,
                 pending: Callable[[], Awaitable[int]] | None = None,
                 grace: float = 0.5) -> bool:
    """Wait until every input has its fate (or ``timeout``). With ``pending`` (messages a
    fault still holds back), wait for those too, at most ``grace`` seconds after settling."""
    total = run.sent_count if total is None else total
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    while time.monotonic() < deadline:
        if await run.settle(timeout=min(0.25, max(0.0, deadline - time.monotonic()))):
            if pending is None:
                return True
            settled_at = settled_at or time.monotonic()
            if not await pending() or time.monotonic() - settled_at > grace:
                return True
            # settle() returned without waiting: wait here, or this loop never yields
            # (a CPU spin starving the agents; a hang on a virtual clock)
            await asyncio.sleep(0.01)
        if progress:
            progress("settling", total, run.settled_count, total)
    return run.settled()


def open_run(spec: PipelineSpec, *, processes: bool, broker: str, store: str | None,
             run_dir: Path, seed: int, recorder: Recorder | None = None,
             **kwargs: object) -> PipelineRun:
    """A run of ``spec`` with its agents in this process or in their own processes."""
    if processes:
        from harness.processes import ProcessRun

        return ProcessRun(spec, broker=broker, store=store, run_dir=run_dir, seed=seed,
                          **kwargs)  # type: ignore[arg-type]
    return PipelineRun(spec, broker=broker, store=store, run_dir=run_dir, seed=seed,
                       recorder=recorder or Recorder(run_dir / "history.jsonl", keep=False,
                                                     batch=True),
                       **kwargs)  # type: ignore[arg-type]


async def run_pipeline(
    pipeline: str | Path,
    *,
    broker: str = "memory",
    processes: bool = False,
    transactions: int = 300,
    seed: int = 0,
    store: str | None = None,
    out: str | Path | None = None,
    rate: float | None = None,
    mix: Mapping[str, float] | None = None,
    timeout: float = 120.0,
    progress: Progress | None = None,
    window: int | None = None,
) -> RunSummary:
    """Run a pipeline on its workload and summarise it (``harness demo`` / ``harness run``).

    Args:
        pipeline: the pipeline file.
        broker: ``memory`` or a broker URL (``--processes`` needs a real broker).
        processes: every agent as its own supervised OS process.
        transactions: how many inputs.
        seed: the workload's seed.
        store: store URL (default: the pipeline's, SQLite in the run folder).
        out: folder for history.jsonl and the store (default: a temporary folder).
        rate: inputs per second (default: as fast as the broker takes them).
        mix: input kinds and their shares (default: the workload's own).
        timeout: seconds to wait for every input to settle.
        progress: called with (phase, sent, settled, total).
        window: at most this many inputs in flight (None: no limit).
    """
    if transactions < 1:
        raise InputError("must be at least 1", where="--transactions")
    spec = load_pipeline(pipeline)
    run_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="harness-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    history = run_dir / "history.jsonl"
    with contextlib.suppress(FileNotFoundError):
        history.unlink()
    tag = "" if broker == "memory" else f"{uuid.uuid4().hex[:6]}-"
    items = make_workload(spec, transactions, seed, mix=mix, run_tag=tag)
    run = open_run(spec, processes=processes, broker=broker, store=store, run_dir=run_dir,
                   seed=seed)
    try:
        async with run:
            await feed(run, items, rate=rate, progress=progress, window=window)
            await settle(run, timeout, progress=progress, total=len(items))
    finally:
        run.recorder.close()
    return await run.summary()
