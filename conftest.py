"""Test-session wiring shared by tests/ and suites/.

The suite runs on two pytest-xdist workers by default (``-n 2 --dist loadgroup`` in pyproject's
addopts; ``-n 0`` runs it in one process). Every worker collects the same ids (checked with two
PYTHONHASHSEEDs). Tests marked ``serial`` share one xdist group, so no two of them ever run at the
same time (the heavy multi-process runs). The payments contract suite (suites/contracts) is one
group too: its last test compares the pacts the consumer tests wrote in this process with the
committed ones, so they must all run in the same worker, in file order. Every other test may run
beside any test, which is safe because every test names its queues, streams, tables and keys with
a fresh uuid and binds port 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    contracts = Path(__file__).resolve().parent / "suites" / "contracts"
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))
        elif item.path.is_relative_to(contracts):
            item.add_marker(pytest.mark.xdist_group("payments-contracts"))
