"""The chaos runner: pipeline + workload + seeded fault schedule -> history -> checkers.

``run_experiment`` drives a :class:`~harness.run.PipelineRun` on a
:class:`~harness.chaos.faults.FaultyTransport` with :class:`~harness.chaos.faults.ChaosHooks`,
feeds the workload at its rate while a nemesis task opens and closes the fault windows, waits for
every input to settle, heals everything (the rollbacks), stops the run (snapshot, run_end) and
runs the checkers on the recorded history. Everything random comes from the seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import bands
from harness.chaos.addresses import Addresses
from harness.chaos.experiment import Experiment
from harness.chaos.faults import ChaosHooks, FaultyTransport
from harness.chaos.handler_coverage import HandlerCoverage
from harness.chaos.schedule import NETWORK_FAULTS, PlannedFault, plan
from harness.checkers import overall, run_checkers
from harness.checkers.base import Verdict
from harness.checkers.exercised import report as exercised_report
from harness.errors import PipelineError, TransportError
from harness.history import Recorder
from harness.pipeline import PipelineSpec, load_object, load_pipeline
from harness.run import PipelineRun
from harness.sim import simulated
from harness.transport import open_transport
from harness.workload import WorkItem, payments_workload

__all__ = ["RunResult", "checker_options", "expectation_met", "make_workload", "run_experiment"]

Progress = Callable[[str, int, int, int], None]


@dataclass
class RunResult:
    """What a chaos run found.

    Attributes:
        experiment: the experiment's description (path, title, seed, workload, checkers...).
        seed: the seed used.
        broker: the broker (password hidden).
        verdicts: checker name -> Verdict.
        valid: the combined verdict (True, False or "unknown").
        expected: what the experiment expects ({valid, caught_by}).
        expectation_met: whether the verdicts match it.
        plan: the planned faults.
        fired: fault id -> times a per-message fault fired.
        exercised: what the run covered (checkers.exercised.report: types and faults per hop,
            the plan with firings, vacuous faults, input bands) and, with ``coverage``, the
            agents' handler line coverage.
        summary: the pipeline run's summary (counts from the store and the DLQs).
        out_dir: where history.jsonl and the reports are.
        elapsed_s: wall time (virtual time under simulation).
        simulation: under simulation, harness.sim.SimStats as a dict (virtual and wall time).
    """

    experiment: dict[str, Any]
    seed: int
    broker: str
    verdicts: dict[str, Verdict]
    valid: Any
    expected: dict[str, Any]
    expectation_met: bool
    plan: list[dict[str, Any]]
    fired: dict[str, int] = field(default_factory=dict)
    exercised: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    out_dir: str = ""
    elapsed_s: float = 0.0
    simulation: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """Jepsen's convention: 0 valid, 1 invalid, 2 unknown."""
        return {True: 0, False: 1}.get(self.valid, 2)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "seed": self.seed, "broker": self.broker,
                "valid": self.valid, "expected": self.expected,
                "expectation_met": self.expectation_met,
                "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
                "plan": self.plan, "fired": self.fired, "exercised": self.exercised,
                "summary": self.summary,
                "out_dir": self.out_dir, "elapsed_s": self.elapsed_s,
                "simulation": self.simulation}


def expectation_met(verdicts: dict[str, Verdict], valid: Any, expected: dict[str, Any]) -> bool:
    """Valid when expected valid; invalid and caught by every named checker when expected so."""
    want = expected.get("valid", True)
    if want is True:
        return valid is True
    caught_by = expected.get("caught_by") or []
    return valid is False and all(verdicts.get(c) is not None and verdicts[c].valid is False
                                  for c in caught_by)


def make_workload(exp: Experiment, spec: PipelineSpec, seed: int, run_tag: str) -> list[WorkItem]:
    """The experiment's inputs: ``payments`` built in, else ``FILE.py:function`` (relative to the
    experiment) or a name resolved to ``workload.py:<name>_workload`` beside the pipeline."""
    if exp.inputs is not None:  # written down one by one (shrunk cases, incidents)
        return list(exp.inputs)
    gen = exp.generator
    if gen == "payments":
        return payments_workload(exp.count, seed, invalid_rate=exp.mix.get("invalid", 0.0),
                                 high_risk_rate=exp.mix.get("high_risk", 0.0), run_tag=run_tag)
    if ":" in gen:
        fn = load_object(gen, base=exp.path.parent, where=f"{exp.path}: workload.generator")
    else:
        fn = load_object(f"workload.py:{gen}_workload", base=spec.path.parent,
                         where=f"{exp.path}: workload.generator")
    items = fn(exp.count, seed, mix=dict(exp.mix), run_tag=run_tag)
    if not isinstance(items, list) or not all(isinstance(i, WorkItem) for i in items):
        raise PipelineError("the workload generator must return a list of WorkItem",
                            where=f"{exp.path}: workload.generator")
    return items


class _Nemesis:
    """Opens and closes the window faults (pause, restart, dependencies, network) on time."""

    def __init__(self, run: PipelineRun, hooks: ChaosHooks, recorder: Recorder,
                 faults: list[PlannedFault], network: Any = None) -> None:
        self.run = run
        self.hooks = hooks
        self.recorder = recorder
        self.faults = sorted(faults, key=lambda f: f.start)
        self.network = network
        self.open: dict[str, PlannedFault] = {}
        self.t0 = time.monotonic()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.t0 = time.monotonic()
        for f in self.faults:
            self.tasks.append(asyncio.create_task(self._window(f)))

    def _fields(self, f: PlannedFault) -> dict[str, Any]:
        agent, _, dep = f.target.rpartition(".")
        fields: dict[str, Any] = {"fault": f.fault, "fault_id": f.id, "target": f.target,
                                  "params": f.params or None}
        if f.fault in ("slow_dependency", "dependency_down"):
            fields.update(dependency=dep, agent=agent or None)
        elif f.fault not in NETWORK_FAULTS:
            fields["agent"] = f.target
        return fields

    async def _window(self, f: PlannedFault) -> None:
        await asyncio.sleep(max(0.0, f.start - (time.monotonic() - self.t0)))
        await self._begin(f)
        if f.end is None or f.fault == "restart":
            return
        await asyncio.sleep(max(0.0, f.end - (time.monotonic() - self.t0)))
        await self._finish(f)

    def _black_box(self, f: PlannedFault) -> Any:
        bb = self.run.blackbox
        return bb if bb is not None and f.target in bb.processes else None

    async def _begin(self, f: PlannedFault) -> None:
        bb = self._black_box(f)
        if bb is not None and f.fault in ("kill", "pause"):
            # the process itself: kill -9 (mid-delivery) or SIGSTOP, recorded by BlackBoxAgents
            if f.fault == "kill":
                await bb.kill(f.target, fault_id=f.id)
            else:
                self.open[f.id] = f
                bb.pause(f.target, fault_id=f.id)
            return
        self.recorder.record("fault_start", **self._fields(f))
        if f.fault == "restart":
            if f.target in self.run.spec.agents:
                await self.run.restart_agent(f.target)
            self.recorder.record("fault_end", **self._fields(f))
            return
        self.open[f.id] = f
        if f.fault == "pause":
            self.hooks.pause(f.target)
        elif f.fault in ("slow_dependency", "dependency_down"):
            self.hooks.break_dependency(f)
        elif f.fault in NETWORK_FAULTS and self.network is not None:
            await self.network.start(f)

    async def _finish(self, f: PlannedFault) -> None:
        if self.open.pop(f.id, None) is None:
            return
        bb = self._black_box(f)
        if bb is not None and f.fault == "pause":
            bb.resume(f.target)
            return
        if f.fault == "pause":
            self.hooks.resume(f.target)
        elif f.fault in ("slow_dependency", "dependency_down"):
            self.hooks.heal_dependency(f)
        elif f.fault in NETWORK_FAULTS and self.network is not None:
            await self.network.stop(f)
        self.recorder.record("fault_end", **self._fields(f), healed_by="schedule")

    async def heal(self) -> None:
        """The rollbacks: cancel pending windows and close every open one."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for f in list(self.open.values()):
            await self._finish(f)


def _check_targets(exp: Experiment, spec: PipelineSpec) -> None:
    for f in exp.faults:
        if f.fault in NETWORK_FAULTS or f.target in ("*", ""):
            continue
        agent = f.target.rpartition(".")[0] if f.fault in ("slow_dependency",
                                                           "dependency_down") else f.target
        if agent and agent not in spec.agents:
            raise PipelineError(f"fault target {agent!r} is not an agent of pipeline "
                                f"{spec.name} (agents: {', '.join(spec.agents)})",
                                where=f"{exp.path}:{f.line or '?'}: method")
        target = spec.agents.get(agent)
        black_box = target is not None and target.is_black_box
        if black_box and f.fault in BLACK_BOX_UNSUPPORTED:
            raise PipelineError(f"{f.fault} needs the harness SDK inside the agent; {agent} is a "
                                "black box (use kill, pause or restart on a command: agent)",
                                where=f"{exp.path}:{f.line or '?'}: method")
        if f.fault == "kill" and not (black_box and target is not None
                                      and target.command is not None):
            raise PipelineError(f"kill needs a command: agent the harness starts; {agent} "
                                "is not one", where=f"{exp.path}:{f.line or '?'}: method")


#: faults applied through the SDK's runtime hooks, which a black box does not have
BLACK_BOX_UNSUPPORTED = frozenset({"crash_before_ack", "crash_after_effect", "crash_on_delivery",
                                   "slow_dependency", "dependency_down"})


async def run_experiment(exp: Experiment, *, seed: int | None = None, broker: str | None = None,
                         out_dir: str | Path | None = None, progress: Progress | None = None,
                         network: Any = None, keep_store: bool = False,
                         coverage: bool = False) -> RunResult:
    """Run one experiment and check its history.

    Args:
        exp: the loaded experiment.
        seed: overrides the experiment's seed.
        broker: ``memory`` (default) or an ``amqp://`` URL.
        out_dir: where history.jsonl goes (default: a temporary folder).
        progress: called with (phase, sent, settled, total).
        network: a NetworkFaults-like object with ``start(fault)``/``stop(fault)`` (needed when
            the experiment has network faults).
        keep_store: keep the SQLite store file in out_dir.
        coverage: measure the agents' handler line coverage (coverage.py) during the run.
    """
    started = time.monotonic()
    seed = exp.seed if seed is None else seed
    broker = broker or exp.broker or "memory"
    own_network = None
    if any(f.fault in NETWORK_FAULTS for f in exp.faults) and network is None:
        from harness.chaos.network import NetworkFaults

        # TOXIPROXY_URL if set, else the embedded server: no extra flag needed
        network = own_network = NetworkFaults()
    spec = load_pipeline(exp.pipeline, overrides=exp.variants or None)
    _check_targets(exp, spec)
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="harness-chaos-"))
    out.mkdir(parents=True, exist_ok=True)
    hist_path = out / "history.jsonl"
    if hist_path.exists():
        hist_path.unlink()
    prefix = "" if broker == "memory" else f"h{uuid.uuid4().hex[:8]}."
    tag = "" if broker == "memory" else f"{uuid.uuid4().hex[:6]}-"
    partitions = bands.for_pipeline(spec)
    items = bands.cover(make_workload(exp, spec, seed, tag), partitions, seed)
    planned = plan(exp.faults, seed)
    store_dir = Path(tempfile.mkdtemp(prefix="harness-store-"))
    recorder = Recorder(hist_path)
    measured = HandlerCoverage(spec) if coverage else None
    services = contextlib.AsyncExitStack()
    addresses = Addresses()
    try:
        # the experiment's own services (an agent's HTTP dependency) first: they bind free
        # ports and publish them, which the proxies' upstreams and the broker URL may name
        for ref in exp.services:
            factory = load_object(ref, base=exp.path.parent, where=f"{exp.path}: services")
            address = await services.enter_async_context(factory())
            addresses.publish("service", ref.rsplit(":", 1)[1], address)
        net_faults = [f for f in planned if f.fault in NETWORK_FAULTS]
        addresses.expand_params(net_faults, where=str(exp.path))
        if network is not None and hasattr(network, "prepare"):
            await network.prepare(net_faults)
            addresses.publish_proxies(network, net_faults)
        broker = addresses.expand(broker, where="--broker")
        faulty = FaultyTransport(
            open_transport(broker, prefix=prefix), recorder, planned, seed,
            queue_of=lambda name: _queue_of(spec, prefix, name))
        hooks = ChaosHooks(recorder, planned, seed)
        run = PipelineRun(spec, broker=broker, recorder=recorder,
                          run_dir=out if keep_store else store_dir, hooks=hooks,
                          transport=faulty, seed=seed, prefix=prefix, network=network)
        if run.blackbox is not None:  # the black boxes' own output, beside the history
            run.blackbox.log_dir = out
        windows = [f for f in planned if f.fault in ("restart", "pause", "kill", "slow_dependency",
                                                     "dependency_down") or
                   f.fault in NETWORK_FAULTS]
        if measured is not None:
            measured.start()
        await run.start()
        # Collect now and freeze what exists: a full collection during the run would walk the
        # whole heap (every earlier run's leftovers in a test session) and stall every agent at
        # once for 100-300 ms; frozen, it walks only this run's objects. (A simulation runs
        # with automatic collection off: nothing to stall.)
        if not simulated():
            gc.collect()
            gc.freeze()
        try:
            opts = checker_options(exp, spec, broker)
            described = {**exp.describe(), "checkers": opts}
            described["broker_tolerance"]["applied"] = broker != "memory"
            described["simulated"] = simulated()
            recorder.record("note", note="experiment", experiment=described,
                            plan=[f.to_dict() for f in planned], workload=len(items),
                            bands=bands.exercised(items, partitions))
            nemesis = _Nemesis(run, hooks, recorder, windows, network)
            faulty.start_clock()
            hooks.start_clock()
            nemesis.start()
            interval = 1.0 / exp.rate if exp.rate else 0.0
            t_send = time.monotonic()
            for n, item in enumerate(items, start=1):
                await _send(run, item)
                if progress and n % 10 == 0:
                    progress("sending", n, len(run.terminal), len(items))
                if interval:
                    await asyncio.sleep(max(0.0, t_send + n * interval - time.monotonic()))
            deadline = time.monotonic() + exp.settle_timeout
            settled_at = None
            while time.monotonic() < deadline:
                await faulty.release_due()
                if await run.settle(timeout=0.1):
                    settled_at = settled_at or time.monotonic()
                    # every input has its fate: give held-back copies a moment, then heal
                    if not await faulty.pending() or time.monotonic() - settled_at > 0.5:
                        break
                    # settle() returned without waiting: wait here, or this loop never yields
                    # (a CPU spin starving the agents; a hang on a virtual clock)
                    await asyncio.sleep(0.01)
                if progress:
                    progress("settling", len(items), len(run.terminal), len(items))
            await nemesis.heal()
            if network is not None and hasattr(network, "heal"):
                await network.heal()
            await faulty.heal()
            hooks.heal()
            await run.settle(timeout=min(2.0, exp.settle_timeout))
            await asyncio.sleep(0.05)  # let duplicates still in flight land
            summary = await run.summary()
        finally:
            gc.unfreeze()
            await run.stop()
            if measured is not None:
                measured.stop()
            if broker != "memory":
                await _delete_queues(broker, prefix, spec)
    finally:
        await services.aclose()
        addresses.restore()
        if own_network is not None:
            await own_network.aclose()
        recorder.close()
        shutil.rmtree(store_dir, ignore_errors=True)
    if progress:
        progress("checking", len(items), len(run.terminal), len(items))
    opts = {k: dict(v) for k, v in checker_options(exp, spec, broker).items()}
    opts.setdefault("wire", {})["registry"] = run.registry
    verdicts = run_checkers(recorder.events, exp.checker_names(), opts)
    valid = overall(verdicts)
    expected = {"valid": exp.expect_valid, "caught_by": list(exp.caught_by)}
    fired = {**faulty.fired, **hooks.fired}
    exercised = exercised_report(recorder.events)
    if measured is not None:
        exercised["coverage"] = measured.report()
    return RunResult(
        experiment=exp.describe(), seed=seed, broker=summary.broker, verdicts=verdicts,
        valid=valid, expected=expected,
        expectation_met=expectation_met(verdicts, valid, expected),
        plan=[f.to_dict() for f in planned], fired=fired, exercised=exercised,
        summary=summary.to_dict(),
        out_dir=str(out), elapsed_s=round(time.monotonic() - started, 3))


def _queue_of(spec: PipelineSpec, prefix: str, name: str) -> str:
    """The broker queue of a fault target (an external agent's queue has no prefix)."""
    agent = spec.agents.get(name)
    if agent is None:
        return prefix + name
    external = agent.blackbox is not None and agent.blackbox.external
    return agent.queue if external else prefix + agent.queue


_MS_METRICS = ("p50_ms", "p95_ms", "p99_ms", "max_ms")


def factor_applies(exp: Experiment) -> bool:
    """Broker hop costs scale only experiments that accept a broker latency factor (the zoo's
    latency bugs keep their budgets: ``broker_tolerance`` absent means 1)."""
    return exp.broker_latency_factor != 1.0


def checker_options(exp: Experiment, spec: PipelineSpec, broker: str) -> dict[str, Any]:
    """The experiment's checker options for a run on ``broker``.

    On a real broker the latency budgets in milliseconds (the pipeline's per agent and end to
    end, and the experiment's tolerances) are multiplied by the experiment's
    ``broker_tolerance.latency_factor`` (default 1): every hop there crosses a second process
    (the broker) and a publisher-confirm round trip, which a loaded machine stretches for all
    agents at once (docs/chaos.md, "Latency budgets on real brokers"), and by the broker's own
    hop cost relative to RabbitMQ (``harness.transport.latency_scale``: SQS 4, Redis 1.5;
    docs/transports.md). Fallback rates and the coupling check are never scaled, and memory runs
    always use the declared budgets.
    """
    from harness.transport import latency_scale

    opts = {k: dict(v) for k, v in exp.checker_options().items()}
    if "exactly_once" in opts and spec.effects:  # business keys declared by the pipeline
        opts["exactly_once"]["unique"] = {**spec.effects,
                                          **(opts["exactly_once"].get("unique") or {})}
    factor = exp.broker_latency_factor * (latency_scale(broker) if factor_applies(exp) else 1.0)
    if broker == "memory" or factor == 1.0 or "latency" not in opts:
        return opts
    lat = opts["latency"]
    budgets = {a: dict(b) for a, b in spec.all_budgets().items()}
    for agent, limits in (lat.get("budgets") or {}).items():
        budgets[agent] = {**budgets.get(agent, {}), **limits}
    lat["budgets"] = {a: {k: (round(v * factor, 3) if k in _MS_METRICS else v)
                          for k, v in b.items()} for a, b in budgets.items()}
    lat["latency_factor"] = factor
    return opts


async def _send(run: PipelineRun, item: WorkItem) -> None:
    """Send one input; a lost publisher confirm (TransportError) makes the producer retry."""
    for attempt in range(6):
        try:
            if item.envelope is not None:
                await run.send(item.envelope, expect=item.expect)
            else:
                await run.send(item.body, correlation_id=item.correlation_id, valid=False,
                               expect=item.expect)
            return
        except TransportError:
            if attempt == 5:
                raise
            with contextlib.suppress(Exception):
                await asyncio.sleep(0.01 * (attempt + 1))


async def _delete_queues(broker: str, prefix: str, spec: PipelineSpec) -> None:
    """Remove the run's own (prefixed) queues from a real broker; best effort."""
    transport = open_transport(broker, prefix=prefix)
    delete = getattr(transport, "delete", None)
    if delete is None:
        return
    try:
        await transport.connect()
        for agent in spec.agents.values():
            with contextlib.suppress(Exception):
                await delete(prefix + agent.queue)
    except Exception:
        pass
    finally:
        with contextlib.suppress(Exception):
            await transport.close()
