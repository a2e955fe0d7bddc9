"""Settings read from the environment: a bad value is one error naming the variable."""

from __future__ import annotations

import os

from harness.errors import InputError

__all__ = ["count"]


def count(name: str) -> int | None:
    """The whole number (at least 1) the variable ``name`` holds, or None when it is unset or
    empty; InputError naming it for anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"must be a whole number of at least 1, not {raw!r:.40}", where=name)
    return int(raw)
