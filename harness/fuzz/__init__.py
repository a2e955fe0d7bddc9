"""Ingress fuzzing: Hypothesis strategies from the registry, mutations, prompt injection.

Usage::

    from harness.fuzz import fuzz_pipeline
    report = fuzz_pipeline("examples/payments/pipeline.yaml", examples=500, seed_=1)
    assert report.ok, report.to_dict()

or ``harness fuzz --pipeline examples/payments/pipeline.yaml --examples 500 --seed 1``.
"""

from __future__ import annotations

from harness.fuzz.case import Case, classify
from harness.fuzz.runner import (
    AgentReport,
    Failure,
    FuzzReport,
    case_strategy,
    fuzz_agent,
    fuzz_pipeline,
    replay,
)

__all__ = ["AgentReport", "Case", "Failure", "FuzzReport", "case_strategy", "classify",
           "fuzz_agent", "fuzz_pipeline", "replay"]
