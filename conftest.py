"""Test-session wiring shared by tests/ and suites/.

The suite runs on two pytest-xdist workers by default (``-n 2 --dist loadgroup`` in pyproject's
addopts; ``-n 0`` runs it in one process). Every worker collects the same ids (checked with two
PYTHONHASHSEEDs). Tests marked ``serial`` share one xdist group, so no two of them ever run at the
same time (the heavy multi-process and broker runs); ``serial("LANE")`` makes a lane of its own
(the chaos suite's in-process memory-broker runs), whose tests run one at a time beside the
others' (two lanes, two workers: the longest lane no longer sets the suite's time alone).
The payments contract suite (suites/contracts) is one group too: its last test compares the
pacts the consumer tests wrote in this process with the committed ones, so they must all run in
the same worker, in file order. Every other test may run beside any test, which is safe because
every test names its queues, streams, tables and keys with a fresh uuid and binds port 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    contracts = Path(__file__).resolve().parent / "suites" / "contracts"
    for item in items:
        serial = item.get_closest_marker("serial")
        if serial is not None:
            lane = serial.args[0] if serial.args else ""
            item.add_marker(pytest.mark.xdist_group(f"serial-{lane}" if lane else "serial"))
        elif item.path.is_relative_to(contracts):
            item.add_marker(pytest.mark.xdist_group("payments-contracts"))
