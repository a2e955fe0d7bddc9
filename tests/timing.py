"""Timing assertions that hold on a loaded machine without hoping for a quiet moment.

A toxic, a timeout or a delay is never early, so every sample must respect the lower bound. Load
only ever adds time, so the upper bound is checked on the best of a few samples: one sample that
fits proves the mechanism is as fast as it should be; a mechanism that is really slow fails on
every sample.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["within"]


def within(measure: Callable[[], float], low: float = 0.0, high: float = float("inf"), *,
           tries: int = 5) -> float:
    """Call ``measure`` (seconds) until a sample is <= ``high``; every one must be >= ``low``.

    Returns the best sample. Raises AssertionError naming the samples otherwise.
    """
    samples: list[float] = []
    for _ in range(tries):
        t = measure()
        samples.append(t)
        assert t >= low, f"{t:.3f}s is earlier than the lower bound {low:.3f}s"
        if t <= high:
            return t
    raise AssertionError(f"every one of {tries} samples is over {high:.3f}s: "
                         + ", ".join(f"{s:.3f}" for s in samples))
