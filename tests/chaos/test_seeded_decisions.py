"""On a real broker the workload's correlation ids carry a random run tag and the queues a random
prefix; the per-message fault decisions leave both out, so the seed alone decides which
messages a fault hits (the same schedule on every run of a seed, on every broker)."""

from __future__ import annotations

from types import SimpleNamespace

from harness.agents.runtime import AgentCrash
from harness.chaos.faults import ChaosHooks, FaultyTransport
from harness.chaos.schedule import FaultSpec, plan
from harness.envelope import Envelope
from harness.history import Recorder
from harness.transport.memory import MemoryTransport


def _envelope(tag: str, i: int) -> bytes:
    return Envelope.ingress(
        type="t", schema_version=1, payload={"i": i}, correlation_id=f"pay-{tag}3-{i:06d}"
    ).to_bytes()


async def _hit(tag: str, prefix: str, seed: int = 3) -> set[str]:
    """Correlations (without the tag) a 30% duplicate fault hits on queue ``prefix``q."""
    rec = Recorder()
    planned = plan([FaultSpec("duplicate", "q", probability=0.3)], seed)
    ft = FaultyTransport(
        MemoryTransport(),
        rec,
        planned,
        seed,
        queue_of=lambda name: prefix + name,
        run_tag=tag,
        prefix=prefix,
    )
    await ft.declare(prefix + "q")
    for i in range(60):
        await ft.publish(prefix + "q", _envelope(tag, i))
    await ft.close()
    return {e["correlation_id"].replace(tag, "") for e in rec.events if e["kind"] == "fault_start"}


async def test_two_runs_with_different_tags_and_prefixes_hit_the_same_messages():
    first = await _hit("a1b2c3-", "h0000aaaa.")
    second = await _hit("d4e5f6-", "h1111bbbb.")
    assert first == second
    assert 5 <= len(first) <= 40  # a real 30% draw, not all or nothing
    assert await _hit("d4e5f6-", "h1111bbbb.", seed=4) != first  # the seed decides


async def test_memory_runs_decide_on_the_message_id_as_before():
    """No tag, no prefix: the decision is made on the message id (memory histories unchanged)."""
    assert await _hit("", "") != await _hit("", "", seed=4)


async def test_crash_hooks_leave_the_tag_out_too():
    planned = plan([FaultSpec("crash_after_effect", "ledger", probability=0.3)], 3)
    runtime = SimpleNamespace(agent=SimpleNamespace(name="ledger"))

    async def hits(tag: str) -> set[str]:
        hooks = ChaosHooks(Recorder(), planned, 3, run_tag=tag)
        out = set()
        for i in range(60):
            env = Envelope.from_bytes(_envelope(tag, i))
            try:
                await hooks.at("after_effect", runtime, env)
            except AgentCrash:
                out.add(env.correlation_id.replace(tag, ""))
        return out

    first = await hits("a1b2c3-")
    assert first == await hits("zzzzzz-") and 5 <= len(first) <= 40


async def test_faults_drawn_for_the_same_messages_share_them():
    """Two faults on one queue that both draw every message: each message gets one of them,
    the one that has fired least, so the second in the file is not shadowed by the first
    (payments-proto-message-faults seed 3 on RabbitMQ: drift@authorization drew 4 messages and
    an earlier fault had drawn each of them too, so it never fired: ``exercised: unknown``)."""
    rec = Recorder()
    specs = [FaultSpec("duplicate", "q", probability=1.0), FaultSpec("drift", "q", probability=1.0)]
    ft = FaultyTransport(MemoryTransport(), rec, plan(specs, 3), 3)
    await ft.declare("q")
    for i in range(10):
        await ft.publish("q", _envelope("", i))
    await ft.close()
    fired = [e["fault"] for e in rec.events if e["kind"] == "fault_start"]
    assert fired.count("duplicate") == 5 and fired.count("drift") == 5


async def test_a_drift_that_cannot_act_is_not_counted_against_its_max():
    """A drift drawn for a message that is no envelope did not fire: with max 1 it still fires
    on the next envelope."""
    rec = Recorder()
    ft = FaultyTransport(MemoryTransport(), rec, plan([FaultSpec("drift", "q", max=1)], 3), 3)
    await ft.declare("q")
    await ft.publish("q", b"not an envelope")
    await ft.publish("q", _envelope("", 1))
    await ft.close()
    assert [e["fault"] for e in rec.events if e["kind"] == "fault_start"] == ["drift"]
    assert ft.fired == {"f0.0:drift@q": 1}
