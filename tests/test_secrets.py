"""A broker or store URL with a password: the password appears in no output and no file.

RabbitMQ's guest account and PostgreSQL's trust auth accept these URLs as given, so the runs are
real; the password is the text after ``user:`` in each URL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.redact import redact_text, redact_url
from harness.testing import require_service

ROOT = Path(__file__).resolve().parents[1]
PG_SECRET = "Zq9-not-a-real-password"
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
STORE = f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/test"


def test_redaction_rules() -> None:
    assert redact_url(BROKER) == "amqp://guest:***@127.0.0.1:5672/"
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("amqp://u:pa/ss@h/") == "amqp://u:***@h/"
    assert redact_url("sqs://h:9324?token=abc&region=x") == "sqs://h:9324?token=***&region=x"
    assert redact_url("memory") == "memory"
    assert redact_url("http://h:8080/path") == "http://h:8080/path"
    assert redact_text(f"cannot connect to {STORE}: refused") == (
        "cannot connect to postgresql://postgres:***@127.0.0.1:5432/test: refused")


def _harness(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.amqp
@pytest.mark.postgres
@pytest.mark.slow
def test_no_password_in_any_output_or_file(tmp_path: Path) -> None:
    require_service("rabbitmq")
    require_service("postgresql")
    outputs = [
        _harness("demo", "--broker", BROKER, "--store", STORE, "--transactions", "12",
                 "--seed", "2", "--out", str(tmp_path / "demo"), cwd=tmp_path),
        _harness("run", str(ROOT / "examples/payments/pipeline.yaml"), "--broker", BROKER,
                 "--store", STORE, "--transactions", "12", "--seed", "2",
                 "--out", str(tmp_path / "run"), "--json", cwd=tmp_path),
        _harness("chaos", "run", str(ROOT / "chaos/payments-message-faults.yaml"), "--seed", "2",
                 "--broker", BROKER, "--out", str(tmp_path / "chaos"), cwd=tmp_path),
        _harness("replay", str(tmp_path / "chaos"), "--broker", BROKER, cwd=tmp_path),
    ]
    # a replay without --broker cannot reuse a hidden password: it says so instead of guessing
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "replay",
                           str(tmp_path / "chaos")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "--broker" in proc.stderr, proc.stderr[-2000:]
    outputs.append(proc.stdout + proc.stderr)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.name == "junit.xml" for p in files)
    for text in outputs:
        assert "guest:guest" not in text and PG_SECRET not in text
    for path in files:
        data = path.read_bytes()
        assert b"guest:guest" not in data and PG_SECRET.encode() not in data, path
