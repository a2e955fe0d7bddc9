"""Ingress fuzzing: Hypothesis strategies from the registry, mutations, prompt injection.

Usage::

    from harness.fuzz import fuzz_pipeline
    report = fuzz_pipeline("examples/payments/pipeline.yaml", examples=500, seed_=1)
    assert report.ok, report.to_dict()

or ``harness fuzz --pipeline examples/payments/pipeline.yaml --examples 500 --seed 1``.
Names are imported lazily, so the pytest plugin can register ``harness.fuzz.fixtures`` without
loading Hypothesis during plugin initialisation.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AgentReport", "Case", "Failure", "FuzzReport", "case_strategy", "classify",
           "fuzz_agent", "fuzz_pipeline", "replay"]

_HOME = {"Case": "case", "classify": "case"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'harness.fuzz' has no attribute {name!r}")
    module = importlib.import_module(f"harness.fuzz.{_HOME.get(name, 'runner')}")
    return getattr(module, name)
