"""Fixtures for the Toxiproxy conformance suite: drivers, an echo upstream, unique names.

The suite targets ``TOXIPROXY_URL`` when set (a real Toxiproxy), else an embedded server
(the ``toxiproxy_url`` fixture from harness.chaos.network_fixtures). All traffic is loopback.
"""

from __future__ import annotations

import itertools
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.toxiproxy.drivers import DRIVERS, DriverError, RawDriver, make_driver

_counter = itertools.count()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


@pytest.fixture(scope="session")
def echo_upstream() -> Iterator[str]:
    """``127.0.0.1:port`` of a threaded TCP echo server."""
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session", params=DRIVERS)
def driver(request: pytest.FixtureRequest, toxiproxy_url: str) -> Iterator[Any]:
    """Each driver in turn: raw HTTP, toxiproxy-python, toxiproxy-node-client."""
    drv = make_driver(request.param, toxiproxy_url)
    yield drv
    drv.close()


@pytest.fixture(scope="session")
def api(toxiproxy_url: str) -> Iterator[RawDriver]:
    """Raw HTTP driver (setup, cleanup and HTTP-level checks)."""
    drv = RawDriver(toxiproxy_url)
    yield drv
    drv.close()


@pytest.fixture
def new_name(api: RawDriver) -> Iterator[Callable[[], str]]:
    """Unique proxy names; every proxy so named is deleted after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"t{os.getpid()}_{next(_counter)}"
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            api.delete(name)
        except DriverError:
            pass


def hostport(listen: str) -> tuple[str, int]:
    """(host, port) to connect to a proxy's ``listen`` address."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::", "localhost"):
        host = "127.0.0.1"
    return host, int(port)


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to a proxy (loopback)."""
    sock = socket.create_connection(hostport(listen), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes (fewer only at EOF)."""
    buf = bytearray()
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            break
        buf += data
    return bytes(buf)


def make_proxy(api: RawDriver, name: str, upstream: str, **toxics: Any) -> dict[str, Any]:
    """Create a proxy on loopback."""
    return api.create(name, upstream, "127.0.0.1:0")
