"""Fixtures for black-box agent tests: RabbitMQ, PostgreSQL and the polyglot example's npm deps."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.testing import require_service, required

ROOT = Path(__file__).resolve().parents[2]
POLYGLOT = ROOT / "examples" / "polyglot"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def services() -> str:
    """The broker URL, once RabbitMQ and PostgreSQL answer."""
    require_service("rabbitmq")
    require_service("postgresql")
    return AMQP


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``npm ci`` in examples/polyglot/node from its committed package-lock.json (once)."""
    node_dir = POLYGLOT / "node"
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        reason = "node and npm are needed for the polyglot example"
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    # one npm ci at a time (pytest-xdist workers share the folder)
    with open(node_dir / "package.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (node_dir / "node_modules" / "amqplib").is_dir() or \
                    not (node_dir / "node_modules" / "pg").is_dir():
                proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=node_dir,
                                      capture_output=True, text=True, timeout=300)
                if proc.returncode != 0:
                    pytest.fail(f"npm ci failed in {node_dir}: {proc.stderr.strip()[-400:]}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return node_dir
