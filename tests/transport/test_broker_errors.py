"""Broker failures on the Redis, NATS and SQS transports: down at start, wrong credentials,
unknown scheme, a broker restarted mid-run -- one clear error (exit 2 from the CLI), no hang."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from harness.cli import main
from harness.errors import InputError, ServiceUnavailable
from harness.testing import require_service, required
from harness.transport import Delivery, open_transport
from harness.transport.moto_server import free_port
from tests.transport.conftest import eventually

pytestmark = pytest.mark.timeout(60)

DOWN = ["redis://127.0.0.1:1/0", "nats://127.0.0.1:1",
        "sqs://us-east-1?endpoint=http://127.0.0.1:1"]


def test_unknown_scheme_is_input_error():
    with pytest.raises(InputError, match="--broker: unsupported broker URL 'kafka://k:9092'"):
        open_transport("kafka://k:9092")


@pytest.mark.parametrize("url", DOWN, ids=["redis", "nats", "sqs"])
async def test_broker_down_at_start_is_service_unavailable(url):
    t = open_transport(url)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="cannot connect"):
        await t.connect()
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("url", [*DOWN[:2], "kafka://k:9092"], ids=["redis", "nats", "kafka"])
def test_cli_demo_on_a_bad_broker_prints_one_line_and_exits_2(url, capsys):
    assert main(["demo", "--broker", url, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err[-1:]) == 1 and "error:" in err[-1] and "Traceback" not in "\n".join(err)


async def test_redis_wrong_credentials_are_named():
    require_service("redis")
    t = open_transport("redis://nobody:wrong@127.0.0.1:6379/0")
    with pytest.raises(ServiceUnavailable, match=r"refused the credentials.*|nobody:\*\*\*"):
        await t.connect()


def _nats_server(port: int, *extra: str, store: str) -> subprocess.Popen[bytes]:
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    return subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store,
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_port(port: int) -> None:
    for _ in range(100):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nats-server did not listen on {port}")


@pytest.fixture
def nats_binary():
    if not (shutil.which("nats-server") or shutil.os.path.exists("/usr/sbin/nats-server")):
        if required():
            pytest.fail("nats-server is not installed")
        pytest.skip("nats-server is not installed")


async def test_nats_wrong_credentials_are_named(nats_binary, tmp_path):
    port = free_port()
    proc = _nats_server(port, "--user", "u", "--pass", "right", store=str(tmp_path))
    try:
        await _wait_port(port)
        t = open_transport(f"nats://u:wrong@127.0.0.1:{port}")
        with pytest.raises(ServiceUnavailable, match=r"u:\*\*\*"):
            await t.connect()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_nats_restart_mid_run_keeps_messages_and_consumers(nats_binary, tmp_path):
    """JetStream file storage: a message published before a restart is delivered after it."""
    port = free_port()
    proc = _nats_server(port, store=str(tmp_path))
    t = open_transport(f"nats://127.0.0.1:{port}?ack_wait=2")
    try:
        await _wait_port(port)
        await t.connect()
        await t.declare("r1.q", delivery_limit=3)
        await t.publish("r1.q", b"before")
        proc.terminate()
        proc.wait(10)
        proc = _nats_server(port, store=str(tmp_path))
        await _wait_port(port)
        got: list[Delivery] = []

        async def handle(d: Delivery) -> None:
            got.append(d)
            await d.ack()

        deadline = time.monotonic() + 20
        while True:  # the client reconnects on its own; publishes work again
            try:
                await t.publish("r1.q", b"after")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        sub = await t.consume("r1.q", handle)
        await eventually(lambda: len(got) >= 2, timeout=20, what="both messages")
        await sub.cancel()
        assert sorted(d.body for d in got) == [b"after", b"before"]
    finally:
        await t.close()
        proc.terminate()
        proc.wait(10)
