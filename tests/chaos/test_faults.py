"""Message faults on the memory transport, recorded in the history."""

from __future__ import annotations

import asyncio

import pytest

from harness.chaos.faults import FaultyTransport
from harness.chaos.schedule import FaultSpec, plan
from harness.envelope import Envelope
from harness.errors import TransportError
from harness.history import Recorder
from harness.transport.memory import MemoryTransport

_ENVS: dict[int, bytes] = {}


def env(i: int) -> bytes:
    if i not in _ENVS:
        _ENVS[i] = Envelope.ingress(type="t", schema_version=1, payload={"i": i},
                                    correlation_id=f"c{i}").to_bytes()
    return _ENVS[i]


async def deliveries(fault: str, params=None, n=5, probability=1.0):
    rec = Recorder()
    inner = MemoryTransport()
    ft = FaultyTransport(inner, rec, plan([FaultSpec(fault, "q", probability=probability,
                                                     params=params or {})], 1), 1)
    await ft.declare("q")
    got: list[bytes] = []

    async def handle(d):
        got.append(d.body)
        await d.ack()

    await ft.consume("q", handle, prefetch=10)
    errors = 0
    for i in range(n):
        try:
            await ft.publish("q", env(i), headers={"x-correlation-id": f"c{i}"})
        except TransportError:
            errors += 1
    await asyncio.sleep(0.2)
    await ft.heal()
    await asyncio.sleep(0.05)
    await ft.close()
    return got, rec.events, errors


async def test_duplicate_delivers_twice_and_records_the_fault():
    got, events, _ = await deliveries("duplicate")
    assert len(got) == 10
    assert sum(e["kind"] == "fault_start" for e in events) == 5
    assert all(e.get("body") for e in events if e["kind"] == "publish")


async def test_delay_and_reorder_deliver_everything():
    got, _, _ = await deliveries("delay", {"ms": [10, 30]})
    assert sorted(got) == sorted(env(i) for i in range(5))
    got, _, _ = await deliveries("reorder", {"max_hold_ms": 20}, probability=0.5)
    assert sorted(got) == sorted(env(i) for i in range(5))


async def test_drop_modes():
    got, _, errors = await deliveries("drop", {"mode": "confirm"})
    assert len(got) == 5 and errors == 5  # the broker got it; the publisher saw an error
    got, events, errors = await deliveries("drop", {"mode": "lose"})
    assert got == [] and errors == 0
    assert {e.get("mode") for e in events if e["kind"] == "fault_start"} == {"lose"}


async def test_poison_and_drift_replace_the_message():
    got, _, _ = await deliveries("poison", n=3)
    assert len(got) == 3 and all(b not in [env(i) for i in range(3)] for b in got)
    got, _, _ = await deliveries("drift", {"version": 2}, n=3)
    assert all(Envelope.from_bytes(b).schema_version == 2 for b in got)


@pytest.mark.parametrize("fault", ["duplicate", "poison"])
async def test_a_retry_of_a_hit_message_passes_through(fault):
    rec = Recorder()
    ft = FaultyTransport(MemoryTransport(), rec, plan([FaultSpec(fault, "q")], 1), 1)
    await ft.declare("q")
    await ft.publish("q", env(1))
    await ft.publish("q", env(1))
    assert sum(e["kind"] == "fault_start" for e in rec.events) == 1
