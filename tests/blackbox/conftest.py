"""Fixtures for black-box agent tests: RabbitMQ, PostgreSQL, the polyglot example's npm deps and
its Go ledger's build."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
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
            if (
                not (node_dir / "node_modules" / "amqplib").is_dir()
                or not (node_dir / "node_modules" / "pg").is_dir()
            ):
                proc = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=node_dir,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if proc.returncode != 0:
                    pytest.fail(f"npm ci failed in {node_dir}: {proc.stderr.strip()[-400:]}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return node_dir


GO_PACKAGES = ("github.com/rabbitmq/amqp091-go", "github.com/lib/pq")
GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put their sources


@pytest.fixture(scope="session")
def go_ledger() -> Path:
    """examples/polyglot/go/ledger built with Debian's Go and its amqp091-go and lib/pq
    packages (.ci/run installs them: golang-go golang-github-rabbitmq-amqp091-go-dev
    golang-github-lib-pq-dev)."""
    go = shutil.which("go")
    missing = [p for p in GO_PACKAGES if not (GOPATH / "src" / p).is_dir()]
    if not go or missing:
        reason = (
            "the Go ledger needs Debian's golang-go, golang-github-rabbitmq-amqp091-go-dev "
            f"and golang-github-lib-pq-dev (missing: {', '.join(missing) or 'go'})"
        )
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    folder = POLYGLOT / "go"
    with open(folder / "ledger.go", "rb") as lock:  # one build at a time (xdist workers)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            binary = folder / "ledger"
            source = folder / "ledger.go"
            if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
                cache = os.environ.get("GOCACHE") or str(Path(tempfile.gettempdir()) / "harness-go")
                env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": cache}
                proc = subprocess.run(
                    [go, "build", "-o", "ledger.tmp", "ledger.go"],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if proc.returncode != 0:
                    pytest.fail(f"go build failed in {folder}: {proc.stderr.strip()[-400:]}")
                os.replace(folder / "ledger.tmp", binary)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return binary
