"""Test-session wiring shared by tests/ and suites/.

pytest-xdist is installed (the ``test`` extra): ``python -m pytest -n 2 --dist loadgroup`` runs the
suite on two workers (not the default yet: every parametrized test must collect the same ids in
every worker first). Tests marked ``serial`` share one xdist group, so no two of them ever run
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
