"""Network faults through a Toxiproxy API: TOXIPROXY_URL (a real Toxiproxy), else the embedded
server (``harness.chaos.toxiproxy``) when it is importable; otherwise skipped (a failure under
HARNESS_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Iterator

import pytest

from harness.chaos.network import NetworkFaults, toxic_for
from harness.chaos.schedule import FaultSpec, plan
from harness.testing import required


@pytest.fixture(scope="module")
def toxiproxy_api() -> Iterator[str]:
    url = os.environ.get("TOXIPROXY_URL")
    if url:
        yield url.rstrip("/")
        return
    if importlib.util.find_spec("harness.chaos.toxiproxy") is None:
        if required():
            pytest.fail("no Toxiproxy: set TOXIPROXY_URL or install harness.chaos.toxiproxy")
        pytest.skip("no Toxiproxy server (set TOXIPROXY_URL) and no embedded one")
    from harness.chaos.toxiproxy import ToxiproxyServer  # type: ignore[import-not-found]

    with ToxiproxyServer(port=0).run_in_thread() as embedded:
        yield embedded


def _fault(kind: str, **params):
    return plan([FaultSpec(kind, "echo", params=params)], 1)[0]


def test_toxic_bodies_follow_toxiproxy():
    t = toxic_for(_fault("latency", latency_ms=250, jitter_ms=5))
    assert t["type"] == "latency" and t["attributes"] == {"latency": 250, "jitter": 5}
    assert t["stream"] == "downstream" and t["toxicity"] == 1.0
    assert toxic_for(_fault("bandwidth", rate_kbps=10))["attributes"] == {"rate": 10}
    assert toxic_for(_fault("reset_peer", timeout_ms=0))["attributes"] == {"timeout": 0}


async def _echo_server():
    async def handle(reader, writer):
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _roundtrip(port: int) -> float:
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(4), 3)
    writer.close()
    assert data == b"ping"
    return time.monotonic() - t0


async def _quick(port: int) -> None:
    """No latency toxic: a round trip under 150 ms on one of a few tries (load only adds)."""
    samples = [await _roundtrip(port)]
    while min(samples) >= 0.15 and len(samples) < 5:
        samples.append(await _roundtrip(port))
    assert min(samples) < 0.15, samples


async def test_latency_and_down_windows(toxiproxy_api: str):
    server, up = await _echo_server()
    nf = NetworkFaults(toxiproxy_api)
    try:
        port = nf.ensure_proxy("harness-echo", upstream=f"127.0.0.1:{up}").port
        await _quick(port)
        lat = plan([FaultSpec("latency", "harness-echo", params={"latency_ms": 200})], 1)[0]
        await nf.start(lat)
        assert await _roundtrip(port) >= 0.19
        await nf.stop(lat)
        await _quick(port)
        down = plan([FaultSpec("down", "harness-echo")], 1)[0]
        await nf.start(down)
        with pytest.raises((OSError, asyncio.TimeoutError, AssertionError)):
            await _roundtrip(port)
        await nf.heal()
        await _quick(port)
        assert nf.applied == {}
    finally:
        await nf.aclose()
        server.close()
    assert "harness-echo" not in NetworkFaults(toxiproxy_api).call("GET", "/proxies")


async def test_windows_do_not_block_the_event_loop(toxiproxy_api: str):
    nf = NetworkFaults(toxiproxy_api)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        f = plan([FaultSpec("reset_peer", "harness-nb", params={
            "timeout_ms": 0, "upstream": "127.0.0.1:9"})], 1)[0]
        await nf.prepare([f])
        await nf.start(f)
        assert [t["type"] for t in nf.proxies["harness-nb"].toxics()] == ["reset_peer"]
        await nf.stop(f)
        assert nf.proxies["harness-nb"].toxics() == []
    finally:
        task.cancel()
        await nf.aclose()
    assert ticks > 0


class _FakeNetwork:
    """Stands in for NetworkFaults to check the runner opens and closes windows."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def start(self, fault) -> None:
        self.calls.append(("start", fault.fault))

    async def stop(self, fault) -> None:
        self.calls.append(("stop", fault.fault))

    async def heal(self) -> None:
        self.calls.append(("heal", ""))


async def test_runner_drives_network_windows(tmp_path):
    from pathlib import Path

    from harness.chaos.experiment import load_experiment
    from harness.chaos.runner import run_experiment

    root = Path(__file__).resolve().parents[2]
    exp_file = tmp_path / "net.yaml"
    exp_file.write_text(f"""pipeline: {root / 'examples/payments/pipeline.yaml'}
workload: {{count: 20, rate: 200}}
method:
  - fault: latency
    target: rabbit
    at: 0.01
    duration: 0.05
    params: {{latency_ms: 50}}
""")
    fake = _FakeNetwork()
    result = await run_experiment(load_experiment(exp_file), network=fake, out_dir=tmp_path)
    assert ("start", "latency") in fake.calls and ("stop", "latency") in fake.calls
    assert result.valid is True
    kinds = [(e["kind"], e.get("fault")) for e in
             __import__("harness.history").history.read_history(tmp_path / "history.jsonl")]
    assert ("fault_start", "latency") in kinds and ("fault_end", "latency") in kinds
