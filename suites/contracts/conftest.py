"""The payments example's contract suite: consumer tests write pacts, provider tests verify.

The ``agent`` and ``message_pact`` fixtures come from the harness's pytest plugin; this folder
only says which pipeline they read (the payments example, not a pipeline.yaml in the rootdir).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "payments" / "pipeline.yaml"


@pytest.fixture(scope="session")
def harness_pipeline_file() -> Path:
    """The payments example's pipeline file."""
    return PIPELINE

