"""Everything outside the event loop that could make two simulated runs differ, pinned.

:func:`deterministic` wraps one simulated run. While it is active:

- ``time.monotonic``/``perf_counter`` (and their ``_ns`` forms) read the loop's virtual clock;
  ``time.time``/``time_ns`` read ``SIM_EPOCH`` + the virtual clock, so envelopes'
  ``produced_at`` and every history ``time`` are virtual; ``time.sleep(s)`` advances the
  virtual clock by ``s`` (the loop was blocked that long) instead of waiting;
- ``uuid.uuid4`` and the module-level ``random`` functions draw from the seed;
- the user's modules (pipeline agents, zoo variants, workloads: ``harness_user.*``) are imported
  afresh, so module-level state left by an earlier run in the same process is not seen, and the
  previous modules are put back afterwards;
- automatic garbage collection is off (collections follow allocation counts, so finalizers would
  run at places that move with unrelated edits).

Python's string hashing (set iteration order) is fixed per process by ``PYTHONHASHSEED``;
``harness chaos run --simulate`` re-executes itself with ``PYTHONHASHSEED=0`` when it is not set
(see :func:`harness.sim.hash_seed_pinned`).
"""

from __future__ import annotations

import contextlib
import gc
import random
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from harness.sim.loop import SimLoop

__all__ = ["SIM_EPOCH", "USER_MODULE_PREFIX", "deterministic", "real_perf_counter"]

#: wall-clock time of virtual t=0 (2026-01-01T00:00:00Z)
SIM_EPOCH = 1_767_225_600.0
#: modules the pipeline loader imports from users' files (harness.pipeline.load_object)
USER_MODULE_PREFIX = "harness_user."
#: the real clock, for measuring a simulation's wall time
real_perf_counter = time.perf_counter

_PATCHED = ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns",
            "sleep")


@contextlib.contextmanager
def deterministic(loop: SimLoop, seed: int) -> Iterator[None]:
    """Pin time, ids, randomness, user modules and GC to ``loop`` and ``seed`` (see module doc)."""
    saved_time = {name: getattr(time, name) for name in _PATCHED}
    saved_uuid4 = uuid.uuid4
    saved_random = random.getstate()
    saved_user = {k: v for k, v in sys.modules.items() if k.startswith(USER_MODULE_PREFIX)}
    gc_was_enabled = gc.isenabled()
    ids = random.Random(f"sim-uuid:{seed}")

    def virtual() -> float:
        return loop.time()

    def virtual_ns() -> int:
        return int(loop.time() * 1e9)

    def wall() -> float:
        return SIM_EPOCH + loop.time()

    def wall_ns() -> int:
        return int((SIM_EPOCH + loop.time()) * 1e9)

    def sleep(seconds: float) -> None:
        loop.advance(float(seconds))

    def uuid4() -> uuid.UUID:
        return uuid.UUID(int=ids.getrandbits(128), version=4)

    replacements: dict[str, Any] = {"monotonic": virtual, "monotonic_ns": virtual_ns,
                                    "perf_counter": virtual, "perf_counter_ns": virtual_ns,
                                    "time": wall, "time_ns": wall_ns, "sleep": sleep}
    for name in saved_user:
        del sys.modules[name]
    gc.disable()
    random.seed(f"sim-random:{seed}")
    for name, fn in replacements.items():
        setattr(time, name, fn)
    uuid.uuid4 = uuid4  # type: ignore[assignment]
    try:
        yield
    finally:
        for name, fn in saved_time.items():
            setattr(time, name, fn)
        uuid.uuid4 = saved_uuid4  # type: ignore[assignment]
        random.setstate(saved_random)
        for name in [k for k in sys.modules if k.startswith(USER_MODULE_PREFIX)]:
            del sys.modules[name]
        sys.modules.update(saved_user)
        if gc_was_enabled:
            gc.enable()
