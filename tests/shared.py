"""Where this repository's tests find the shared conformance corpora (``../shared`` beside the
checkout, as CI lays it out): CI knowledge, kept out of the installed package."""

from __future__ import annotations

import os
from pathlib import Path

from harness.testing import missing

__all__ = ["shared_path"]


def shared_path(*parts: str) -> Path:
    """A path under ../shared beside the checkout; skip (or fail under CI) when absent."""
    override = os.environ.get("HARNESS_SHARED_DIR")
    roots = [Path(override)] if override else []
    here = Path(__file__).resolve()
    roots += [p / "shared" for p in here.parents] + [Path.cwd().parent / "shared"]
    for root in roots:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    missing(f"../shared/{'/'.join(parts)} is not beside this checkout "
            "(set HARNESS_SHARED_DIR to the shared folder)")
    raise AssertionError("unreachable")
