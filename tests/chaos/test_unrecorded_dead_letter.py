"""A dead letter an agent made but never recorded (it was cut off after the broker had it) is
recorded from the DLQ one drain later, so no_loss does not report a false loss."""

from __future__ import annotations

from harness.demo import default_pipeline_path
from harness.pipeline import load_pipeline
from harness.run import PipelineRun
from harness.transport.base import DeadLetter, dlq_name


async def test_unrecorded_harness_dead_letter_is_recorded_from_the_dlq():
    spec = load_pipeline(default_pipeline_path())
    async with PipelineRun(spec, store="memory") as run:
        run.track("cid-1")
        queue = run.queue(spec.agents["fraud"].queue)
        # what an agent's delivery.dead_letter leaves in the memory broker's DLQ
        run.transport.broker.queue(dlq_name(queue)).dead.append(
            DeadLetter(b"{}", "schema_invalid", "cut off", queue, "cid-1", {}))
        await run.drain_dead_letters()
        assert "cid-1" not in run.terminal  # the agent may still record it itself
        await run.drain_dead_letters()
        assert run.terminal["cid-1"] == "dead_lettered"
        events = [e for e in run.recorder.events if e["kind"] == "dead_letter"]
        assert [(e["reason"], e["source"]) for e in events] == [("schema_invalid", "dlq")]
