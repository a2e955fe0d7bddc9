"""pytest entry point for ingress fuzzing (registered through ``FIXTURE_MODULES``).

``harness_fuzz(pipeline, agent=None, examples=None, http=True)`` fuzzes a pipeline's agents
(and their ``http:`` endpoints, unless ``http=False``) with the session's seed
(``--harness-seed``) and fails the test with each shrunk input and its ready-to-paste
reproducer. ``HARNESS_FUZZ_EXAMPLES`` sets the default number of examples (500).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.envvars import count
from harness.pytest_plugin import harness_seed

__all__ = ["DEFAULT_EXAMPLES", "assert_fuzz_ok", "harness_fuzz"]

DEFAULT_EXAMPLES = 500


def assert_fuzz_ok(pipeline: str | Path, *, agent: str | None = None,
                   examples: int | None = None, seed: int = 0, http: bool = True) -> None:
    """Fuzz and raise AssertionError describing every failure (with reproducers), the agents'
    and their HTTP endpoints'."""
    from harness.fuzz.runner import fuzz_pipeline

    if examples is None:
        examples = count("HARNESS_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES
    report = fuzz_pipeline(pipeline, agent=agent, examples=examples, seed_=seed, http=http)
    if report.ok:
        return
    lines = [f"ingress fuzzing failed (seed {seed}; rerun with --harness-seed={seed}):"]
    for a in report.agents:
        for f in a.failures:
            lines.append(f"{a.agent}: " + "; ".join(f.problems))
            lines.append(f.reproducer)
    for h in report.http:
        for hf in h.failures:
            lines.append(f"{h.agent} over HTTP ({h.app}), {hf.operation}: "
                         + "; ".join(hf.problems))
            lines.append(hf.reproducer)
    raise AssertionError("\n".join(lines))


@pytest.fixture
def harness_fuzz(pytestconfig: pytest.Config) -> Callable[..., None]:
    """Fuzz a pipeline (or one of its agents) with the session's seed; fail with reproducers."""
    seed = harness_seed(pytestconfig)

    def run(pipeline: str | Path, agent: str | None = None, examples: int | None = None,
            http: bool = True) -> None:
        assert_fuzz_ok(pipeline, agent=agent, examples=examples, seed=seed, http=http)

    return run
