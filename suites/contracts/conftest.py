"""The payments example's contract suite: consumer tests write pacts, provider tests verify."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"
PACTS = ROOT / "contracts" / "pacts"


@pytest.fixture(scope="session")
def payments():
    """The payments pipeline (agents as the pipeline file configures them)."""
    from harness.pipeline import load_pipeline

    return load_pipeline(PIPELINE)


@pytest.fixture(scope="session")
def agent(payments):
    """``agent(name)`` -> (Agent, params) from the payments pipeline."""

    def get(name: str):
        spec = payments.agents[name]
        return spec.agent, spec.params

    return get
