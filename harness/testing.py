"""Helpers for tests that need local services or the shared conformance corpora.

Under ``HARNESS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing service or corpus is a test
failure, never a skip; elsewhere (a user's laptop) it is a skip that says what is missing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

__all__ = ["SERVICES", "port_open", "require_service", "required", "shared_path"]

#: name -> (host, port, how to start it)
SERVICES: dict[str, tuple[str, int, str]] = {
    "rabbitmq": ("127.0.0.1", 5672, "rabbitmq-server -detached"),
    "postgresql": ("127.0.0.1", 5432,
                   "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "redis": ("127.0.0.1", 6379, "redis-server --daemonize yes --bind 127.0.0.1 --port 6379"),
    "nats": ("127.0.0.1", 4222, "nats-server -js -a 127.0.0.1 -p 4222"),
}


def required() -> bool:
    """True when missing services and corpora must fail instead of skip."""
    return os.environ.get("HARNESS_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _missing(reason: str) -> None:
    if required():
        pytest.fail(f"{reason} (HARNESS_REQUIRE_SERVICES=1: a missing service is a failure)",
                    pytrace=False)
    pytest.skip(reason)


def require_service(name: str) -> tuple[str, int]:
    """Skip (or fail under CI) unless the named local service answers; returns (host, port)."""
    host, port, how = SERVICES[name]
    if not port_open(host, port):
        _missing(f"{name} is not running at {host}:{port} (start it with: {how})")
    return host, port


def shared_path(*parts: str) -> Path:
    """A path under ../shared beside the checkout; skip (or fail under CI) when absent."""
    override = os.environ.get("HARNESS_SHARED_DIR")
    roots = [Path(override)] if override else []
    here = Path(__file__).resolve()
    roots += [p / "shared" for p in here.parents] + [Path.cwd().parent / "shared"]
    for root in roots:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    _missing(f"../shared/{'/'.join(parts)} is not beside this checkout "
             "(set HARNESS_SHARED_DIR to the shared folder)")
    raise AssertionError("unreachable")
