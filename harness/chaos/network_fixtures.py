"""Pytest fixtures for network faults (registered through ``FIXTURE_MODULES``).

- ``toxiproxy_url`` (session): ``TOXIPROXY_URL`` when set (a real Toxiproxy), else the URL of an
  embedded server started in a thread on a free loopback port (on uvloop, or on the stock
  asyncio loop when ``HARNESS_TOXIPROXY_LOOP=asyncio``).
- ``network_faults`` (function): a :class:`harness.chaos.network.NetworkFaults` on that server;
  every proxy it created is deleted when the test ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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

    use_uvloop = os.environ.get("HARNESS_TOXIPROXY_LOOP", "uvloop") != "asyncio"
    with ToxiproxyServer(port=0).run_in_thread(use_uvloop=use_uvloop) as embedded:
        yield embedded


@pytest.fixture
def network_faults(request: pytest.FixtureRequest, toxiproxy_url: str) -> Iterator[Any]:
    """A :class:`~harness.chaos.network.NetworkFaults` on ``toxiproxy_url``.

    Faults are recorded into the run's history (the ``harness_history`` fixture) when the test
    uses that fixture, or into ``network_faults.recorder`` when the test sets it. Every proxy
    made is deleted at teardown.
    """
    from harness.chaos.network import NetworkFaults

    recorder = None
    if "harness_history" in request.fixturenames:
        recorder = request.getfixturevalue("harness_history")
    faults = NetworkFaults(toxiproxy_url, recorder=recorder)
    yield faults
    faults.close()
