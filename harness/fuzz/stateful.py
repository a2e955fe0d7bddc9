"""A stateful fuzzer over a running pipeline (Hypothesis ``RuleBasedStateMachine``).

Rules publish valid, invalid and duplicate ingress messages and restart agents; after every step
the pipeline is driven to quiescence and the invariants are checked:

- no loss: every input sent has a terminal outcome (completed or declined) or a dead letter,
  and valid inputs are never dead-lettered, invalid ones always are;
- exactly once: no effect key is applied twice, no (correlation, effect) pair is applied twice,
  at most one terminal outcome per correlation, and the ledger balances.

These are small local checks over the run's recorder events and store; when the chaos checkers
(``harness/checkers/no_loss.py``, ``exactly_once.py``) are importable, :meth:`Driver.check` also
runs them on the recorder events (:func:`chaos_checker_problems`) and reports a False verdict.

A failure shrinks to a minimal step sequence, printed as a ready-to-paste pytest test that drives
the same :class:`Driver` calls (:func:`run_stateful` returns it)::

    result = run_stateful("examples/payments/pipeline.yaml", examples=30, seed_=1)
    assert result.ok, result.reproducer
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope
from harness.fuzz.case import classify
from harness.fuzz.mutations import MUTATIONS, MutationContext
from harness.fuzz.strategies import PayloadStrategies, correlation_ids, envelope_for
from harness.pipeline import PipelineSpec, load_pipeline
from harness.run import PipelineRun

__all__ = ["STATEFUL_MUTATIONS", "Driver", "StatefulResult", "run_stateful"]

#: mutations that keep the input's correlation id readable (so the no-loss check can follow it)
STATEFUL_MUTATIONS = ("missing_required", "wrong_type", "renamed_field", "extra_field",
                      "boundary_number", "unknown_version", "unexpected_type", "truncated",
                      "payload_not_object", "huge_string")


class Driver:
    """A pipeline running on the memory transport with a memory store, driven step by step.

    Args:
        pipeline: the pipeline file.
        overrides: agent name -> handler ref, replacing agents (e.g. a broken variant).
    """

    def __init__(self, pipeline: str | Path, *, overrides: dict[str, str] | None = None,
                 spec: PipelineSpec | None = None,
                 registry: SchemaRegistry | None = None) -> None:
        self.spec: PipelineSpec = spec or load_pipeline(pipeline, overrides=overrides)
        self.loop = asyncio.new_event_loop()
        self.run = PipelineRun(self.spec, store="memory", restart_delay=0.0)
        if registry is not None:  # share compiled validators across many short runs
            self.run.registry = registry
        self.loop.run_until_complete(self.run.start())
        self.bodies: dict[str, bytes] = {}
        self.expect: dict[str, bool] = {}

    # -- steps -------------------------------------------------------------------------------
    def publish_valid(self, payload: Any, cid: str) -> None:
        """Send a valid ingress envelope."""
        env = envelope_for(self.spec.ingress, payload, cid)
        self._send(env.to_bytes(), cid, valid=True)

    def publish_invalid(self, body: bytes, cid: str) -> None:
        """Send bytes the ingress agent must dead-letter."""
        self._send(body, cid, valid=False)

    def publish_valid_bytes(self, body: bytes, cid: str) -> None:
        """Send bytes that are valid although a mutation made them (e.g. an allowed extra)."""
        self._send(body, cid, valid=True)

    def publish_duplicate(self, cid: str) -> None:
        """Send an earlier input again, byte for byte."""
        self._send(self.bodies[cid], cid, valid=self.expect[cid])

    def restart(self, agent: str) -> None:
        """Stop and start every instance of an agent."""
        self.loop.run_until_complete(self.run.restart_agent(agent))
        self._quiesce()

    def _send(self, body: bytes, cid: str, *, valid: bool) -> None:
        self.bodies[cid] = body
        self.expect[cid] = valid
        self.loop.run_until_complete(self.run.send(body, correlation_id=cid, valid=valid))
        self._quiesce()

    def _quiesce(self, timeout: float = 10.0) -> None:
        """Run the loop until every queue is empty and nothing happens for a while.

        Quiet is measured in loop iterations with no new event, no message waiting in a queue
        and no delivery still in a handler (agents may await simulated work).
        """
        async def wait() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            quiet, seen = 0, -1
            queues = [self.run.queue(a.queue) for a in self.spec.agents.values()]
            while quiet < 50 and loop.time() < deadline:
                await asyncio.sleep(0 if quiet < 40 else 0.0005)
                events = len(self.run.recorder.events)
                busy = events != seen or self._in_flight()
                if not busy:
                    for q in queues:
                        if await self.run.transport.depth(q):
                            busy = True
                            break
                quiet = 0 if busy else quiet + 1
                seen = events
            await self.run.drain_dead_letters()

        self.loop.run_until_complete(wait())

    def _in_flight(self) -> bool:
        """Deliveries handed to a handler and not yet settled (a handler still working)."""
        subs = getattr(self.run.transport, "_subs", [])  # the memory transport's subscriptions
        return any(getattr(sub, "unsettled", None) and not getattr(sub, "cancelled", False)
                   for sub in subs)

    # -- invariants --------------------------------------------------------------------------
    def check(self) -> list[str]:
        """The broken invariants (empty when no loss and exactly once hold)."""
        problems: list[str] = []
        events = self.run.recorder.events
        store = self.loop.run_until_complete(self.run.store.effects())
        ledger = self.loop.run_until_complete(self.run.store.ledger())
        outcomes = {e["correlation_id"]: e["effect"].split(":", 1)[1]
                    for e in store if e["effect"].startswith("outcome:")}
        dead = {e.get("correlation_id") for e in events if e["kind"] == "dead_letter"}
        for cid, valid in self.expect.items():
            if cid not in outcomes and cid not in dead:
                problems.append(f"lost: {cid} has no outcome and no dead letter")
            elif valid and cid in dead:
                problems.append(f"valid input {cid} was dead-lettered")
            elif not valid and cid in outcomes:
                problems.append(f"invalid input {cid} reached outcome {outcomes[cid]}")
        applied = [e for e in events if e["kind"] == "effect" and e.get("applied")]
        for key, n in Counter(e["key"] for e in applied).items():
            if n > 1:
                problems.append(f"effect key {key} applied {n} times")
        per_cid = Counter((e.get("correlation_id"), e.get("effect")) for e in applied)
        for (who, effect), n in per_cid.items():
            if n > 1:
                problems.append(f"{effect} applied {n} times for {who}")
        for who, n in Counter(e.get("correlation_id") for e in events
                              if e["kind"] == "outcome").items():
            if n > 1:
                problems.append(f"{n} terminal outcomes for {who}")
        if not ledger["balanced"]:
            problems.append(f"ledger unbalanced: {ledger}")
        return problems + chaos_checker_problems(events)

    def teardown(self) -> None:
        self.loop.run_until_complete(self.run.stop())
        self.loop.close()


def chaos_checker_problems(events: list[dict[str, Any]]) -> list[str]:
    """The chaos helper's ``no_loss`` and ``exactly_once`` checkers, when they are installed.

    Only a definite ``False`` verdict counts: mid-run the history has no ``run_end``, so an
    ``unknown`` verdict is expected and ignored. Without ``harness.checkers`` this returns [].
    """
    try:
        from harness.checkers import exactly_once, no_loss  # type: ignore[attr-defined]
    except ImportError:
        return []
    problems = []
    for name, module in (("no_loss", no_loss), ("exactly_once", exactly_once)):
        try:
            verdict = module.check(list(events), {})
        except Exception:  # a checker that raises decides nothing (unknown)
            continue
        if verdict.valid is False:
            examples = {k: list(v)[:2] for k, v in dict(verdict.examples).items() if v}
            problems.append(f"checker {name}: {examples}"[:400])
    return problems


@dataclass
class StatefulResult:
    """Outcome of :func:`run_stateful`: ``ok``, the seed and, on failure, the minimal steps."""

    ok: bool
    seed: int
    problems: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    reproducer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "seed": self.seed, "problems": self.problems,
                "steps": self.steps, "reproducer": self.reproducer}


class _InvariantBroken(AssertionError):
    def __init__(self, problems: list[str], steps: list[str]) -> None:
        self.problems, self.steps = problems, steps
        super().__init__("; ".join(problems))


def _machine(pipeline: str, overrides: dict[str, str] | None,
             last: list[_InvariantBroken]) -> type[RuleBasedStateMachine]:
    spec = load_pipeline(pipeline, overrides=overrides)
    payloads = PayloadStrategies(SchemaRegistry(spec.registry_path))
    ingress = spec.ingress
    consumers = [a for a in spec.consumers_of(ingress.type) if a.agent is not None]
    first = consumers[0].agent if consumers else None
    consumes = list(first.consumes) if first is not None else [ingress]
    agents = sorted(name for name, a in spec.agents.items() if a.agent is not None)
    valid_payloads = payloads.valid(ingress)

    class PipelineMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.driver = Driver(pipeline, overrides=overrides, spec=spec,
                                 registry=payloads.registry)
            self.steps: list[str] = []
            self.sent: list[str] = []

        def _step(self, line: str) -> None:
            self.steps.append(line)

        @rule(payload=valid_payloads, cid=correlation_ids())
        def publish_valid(self, payload: Any, cid: str) -> None:
            if cid in self.driver.expect:
                return
            self._step(f"d.publish_valid(payload={payload!r}, cid={cid!r})")
            self.sent.append(cid)
            self.driver.publish_valid(payload, cid)

        @rule(data=st.data(), cid=correlation_ids(),
              kind=st.sampled_from(STATEFUL_MUTATIONS))
        def publish_invalid(self, data: st.DataObject, cid: str, kind: str) -> None:
            if cid in self.driver.expect:
                return
            env: Envelope = envelope_for(ingress, data.draw(valid_payloads), cid)
            ctx = MutationContext(payloads.registry, ingress, payloads.inlined(ingress), consumes)
            mutated, _note = MUTATIONS[kind](data.draw, env, ctx)
            body = mutated if isinstance(mutated, bytes) else mutated.to_bytes()
            valid = classify(body, consumes, payloads.registry)[0]
            self._step(f"d.{'publish_valid_bytes' if valid else 'publish_invalid'}"
                       f"(body={body!r}, cid={cid!r})  # {kind}")
            self.sent.append(cid)
            self.driver._send(body, cid, valid=valid)

        @precondition(lambda self: bool(self.sent))
        @rule(data=st.data())
        def publish_duplicate(self, data: st.DataObject) -> None:
            cid = data.draw(st.sampled_from(self.sent))
            self._step(f"d.publish_duplicate({cid!r})")
            self.driver.publish_duplicate(cid)

        @rule(agent=st.sampled_from(agents))
        def restart(self, agent: str) -> None:
            self._step(f"d.restart({agent!r})")
            self.driver.restart(agent)

        @invariant()
        def no_loss_and_exactly_once(self) -> None:
            problems = self.driver.check()
            if problems:
                last.append(_InvariantBroken(problems, list(self.steps)))
                raise last[-1]

        def teardown(self) -> None:
            self.driver.teardown()

    return PipelineMachine


def run_stateful(pipeline: str | Path, *, examples: int = 20, steps: int = 15, seed_: int = 0,
                 overrides: dict[str, str] | None = None) -> StatefulResult:
    """Run the state machine ``examples`` times with up to ``steps`` steps each.

    Returns:
        A :class:`StatefulResult`; on failure ``steps`` is the shrunk sequence and
        ``reproducer`` a pytest test replaying it.
    """
    last: list[_InvariantBroken] = []
    machine = _machine(str(pipeline), overrides, last)
    machine = seed(seed_)(type("SeededPipelineMachine", (machine,), {}))
    config = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                      database=None, suppress_health_check=list(HealthCheck),
                      report_multiple_bugs=False, verbosity=Verbosity.quiet,
                      phases=(Phase.explicit, Phase.generate, Phase.shrink))
    try:
        run_state_machine_as_test(machine, settings=config)
    except Exception:
        if not last:
            raise
        broken = last[-1]
        return StatefulResult(False, seed_, broken.problems, broken.steps,
                              _reproducer(str(pipeline), overrides, broken, seed_))
    return StatefulResult(True, seed_)


def _reproducer(pipeline: str, overrides: dict[str, str] | None, broken: _InvariantBroken,
                seed_: int) -> str:
    body = "\n".join(f"        {s}" for s in broken.steps)
    problems = "\n".join(f"    #   {p}" for p in broken.problems)
    return (
        "def test_stateful_fuzz_repro():\n"
        f"    # found by run_stateful({pipeline!r}, seed_={seed_}); broken invariants:\n"
        f"{problems}\n"
        "    from harness.fuzz.stateful import Driver\n\n"
        f"    d = Driver({pipeline!r}, overrides={overrides!r})\n"
        "    try:\n"
        f"{body}\n"
        "        assert d.check() == []\n"
        "    finally:\n"
        "        d.teardown()\n"
    )
