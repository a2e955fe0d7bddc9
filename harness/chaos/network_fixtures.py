"""Pytest fixtures for network faults (registered through ``FIXTURE_MODULES``).

- ``toxiproxy_url`` (session): ``TOXIPROXY_URL`` when set (a real Toxiproxy), else the URL of an
  embedded server started in a thread on a free loopback port.
- ``network_faults`` (function): a :class:`harness.chaos.network.NetworkFaults` on that server;
  every proxy it created is deleted when the test ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

TOXIPROXY_URL_ENV = "TOXIPROXY_URL"


@pytest.fixture(scope="session")
def toxiproxy_url() -> Iterator[str]:
    """Base URL of the Toxiproxy API under test (real when ``TOXIPROXY_URL`` is set)."""
    url = os.environ.get(TOXIPROXY_URL_ENV)
    if url:
        yield url.rstrip("/")
        return
    from harness.chaos.toxiproxy import ToxiproxyServer

    with ToxiproxyServer(port=0).run_in_thread() as embedded:
        yield embedded
