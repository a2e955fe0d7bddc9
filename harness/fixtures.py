"""Core pytest fixtures: the seed, the broker URL, a transport, a pipeline and its history."""

from __future__ import annotations

import pytest

from harness.pytest_plugin import BROKER_OPTION, harness_seed


@pytest.fixture(scope="session")
def harness_seed_value(pytestconfig: pytest.Config) -> int:
    """The session's seed (``--harness-seed``)."""
    return harness_seed(pytestconfig)


@pytest.fixture(scope="session")
def harness_broker_url(pytestconfig: pytest.Config) -> str:
    """The broker URL (``--harness-broker``): ``memory`` or ``amqp://...``."""
    return str(pytestconfig.getoption(BROKER_OPTION))
