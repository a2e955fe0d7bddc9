"""Test-session wiring shared by tests/ and suites/.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml; ``-n 0``
runs it in one process). Tests marked ``serial`` share one xdist group, so no two of them ever run
at the same time (the heavy multi-process runs); every other test may run beside any test, which
is safe because every test names its queues, streams, tables and keys with a fresh uuid and binds
port 0.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))
