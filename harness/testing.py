"""Helpers for tests that need local services (RabbitMQ, PostgreSQL, ...).

Under ``HARNESS_REQUIRE_SERVICES=1`` a missing service is a test failure, never a skip;
elsewhere (a user's laptop) it is a skip that says what is missing and how to start it.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["SERVICES", "missing", "port_open", "require_service", "required"]

#: name -> (host, port, how to start it)
SERVICES: dict[str, tuple[str, int, str]] = {
    "rabbitmq": ("127.0.0.1", 5672, "rabbitmq-server -detached"),
    "postgresql": ("127.0.0.1", 5432,
                   "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "redis": ("127.0.0.1", 6379, "redis-server --daemonize yes --bind 127.0.0.1 --port 6379"),
    "nats": ("127.0.0.1", 4222, "nats-server -js -a 127.0.0.1 -p 4222"),
}


def required() -> bool:
    """True when missing services must fail instead of skip."""
    return os.environ.get("HARNESS_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def missing(reason: str) -> None:
    """Skip with ``reason``, or fail under ``HARNESS_REQUIRE_SERVICES=1``."""
    if required():
        pytest.fail(f"{reason} (HARNESS_REQUIRE_SERVICES=1: a missing service is a failure)",
                    pytrace=False)
    pytest.skip(reason)


def require_service(name: str) -> tuple[str, int]:
    """Skip (or fail under CI) unless the named local service answers; returns (host, port)."""
    host, port, how = SERVICES[name]
    if not port_open(host, port):
        missing(f"{name} is not running at {host}:{port} (start it with: {how})")
    return host, port
