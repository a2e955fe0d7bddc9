"""The chaos runner: pipeline + workload + seeded fault schedule -> history -> checkers.

``run_experiment`` is a few named steps:

1. :func:`prepare`: load the pipeline (with the experiment's variants), check fault targets,
   make the workload (:func:`harness.workload.make_workload`) and the seeded plan;
2. :func:`wire`: a :class:`~harness.run.PipelineRun` (agents in this process) or a
   :class:`~harness.processes.ProcessRun` (``processes=True``: every agent its own OS process)
   on a :class:`~harness.chaos.faults.FaultyTransport`, with the fault hooks and the nemesis
   driver for that mode;
3. :func:`drive`: start the fault clock and the nemesis, feed the workload at its rate and
   settle (:mod:`harness.engine`, the same loop ``harness run`` uses);
4. :func:`heal`: the rollbacks, then a last settle; the run stops (snapshot, run_end);
5. :func:`judge`: the checkers on the recorded history, the summary from their verdicts.

Everything random comes from the seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import bands
from harness.chaos.addresses import Addresses
from harness.chaos.experiment import Experiment
from harness.chaos.fault_registry import FAULTS
from harness.chaos.faults import ChaosHooks, FaultyTransport
from harness.chaos.handler_coverage import HandlerCoverage
from harness.chaos.load_probe import LoadProbe
from harness.chaos.nemesis import InProcessDriver, Nemesis, ProcessDriver
from harness.chaos.schedule import NETWORK_FAULTS, PlannedFault, plan
from harness.checkers import overall, run_checkers
from harness.checkers.base import Verdict
from harness.checkers.exercised import report as exercised_report
from harness.engine import Progress, feed, settle
from harness.errors import InputError, PipelineError
from harness.history import Recorder, open_history
from harness.pipeline import PipelineSpec, load_object, load_pipeline
from harness.redact import redact_url
from harness.run import PipelineRun
from harness.sim import simulated
from harness.summary import summarise
from harness.transport import open_transport
from harness.workload import WorkItem
from harness.workload import make_workload as pipeline_workload

__all__ = [
    "Prepared",
    "RunResult",
    "Wired",
    "checker_options",
    "drive",
    "expectation_met",
    "heal",
    "judge",
    "make_workload",
    "prepare",
    "run_experiment",
    "wire",
]


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
        fired: fault id -> times a per-message fault fired, or a window fault opened.
        exercised: what the run covered (checkers.exercised.report: types and faults per hop,
            the plan with firings, vacuous faults, input bands) and, with ``coverage``, the
            agents' handler line coverage.
        summary: the run's summary (harness.summary: read from the history by the checkers).
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
        return {
            "experiment": self.experiment,
            "seed": self.seed,
            "broker": self.broker,
            "valid": self.valid,
            "expected": self.expected,
            "expectation_met": self.expectation_met,
            "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
            "plan": self.plan,
            "fired": self.fired,
            "exercised": self.exercised,
            "summary": self.summary,
            "out_dir": self.out_dir,
            "elapsed_s": self.elapsed_s,
            "simulation": self.simulation,
        }


def expectation_met(verdicts: dict[str, Verdict], valid: Any, expected: dict[str, Any]) -> bool:
    """Valid when expected valid; invalid and caught by every named checker when expected so."""
    want = expected.get("valid", True)
    if want is True:
        return valid is True
    caught_by = expected.get("caught_by") or []
    return valid is False and all(
        verdicts.get(c) is not None and verdicts[c].valid is False for c in caught_by
    )


@dataclass
class Prepared:
    """What a run needs before anything starts."""

    exp: Experiment
    spec: PipelineSpec
    seed: int
    broker: str
    processes: bool
    out: Path
    prefix: str
    items: list[WorkItem]
    planned: list[PlannedFault]
    partitions: Any = None
    #: the random tag in the workload's correlation ids on a real broker ("" on memory)
    run_tag: str = ""


@dataclass
class Wired:
    """A run with its faults wired in (not started yet)."""

    run: PipelineRun
    recorder: Recorder
    faulty: FaultyTransport
    hooks: ChaosHooks | None
    nemesis: Nemesis
    store_dir: Path


def make_workload(exp: Experiment, spec: PipelineSpec, seed: int, run_tag: str) -> list[WorkItem]:
    """The experiment's inputs: written down one by one (``inputs``: shrunk cases, incidents),
    else its ``workload.generator`` or the pipeline's workload (harness.workload)."""
    if exp.inputs is not None:
        return list(exp.inputs)
    return list(
        pipeline_workload(
            spec,
            exp.count,
            seed,
            mix=exp.mix,
            run_tag=run_tag,
            generator=exp.generator,
            base=exp.path.parent,
            where=f"{exp.path}: workload.generator",
        )
    )


#: faults applied through the SDK's runtime hooks, which a black box does not have
BLACK_BOX_UNSUPPORTED = frozenset(
    {
        "crash_before_ack",
        "crash_after_effect",
        "crash_on_delivery",
        "slow_dependency",
        "dependency_down",
    }
)


def _check_targets(exp: Experiment, spec: PipelineSpec, processes: bool) -> None:
    for f in exp.faults:
        kind = FAULTS[f.fault]
        where = f"{exp.path}:{f.line or '?'}: method"
        if processes and not kind.processes:
            raise PipelineError(f"fault {f.fault} is not supported with --processes", where=where)
        if kind.family == "network" or f.target in ("*", ""):
            continue
        agent = f.target.rpartition(".")[0] if kind.target == "agent.dependency" else f.target
        if agent and agent not in spec.agents:
            raise PipelineError(
                f"fault target {agent!r} is not an agent of pipeline "
                f"{spec.name} (agents: {', '.join(spec.agents)})",
                where=where,
            )
        target = spec.agents.get(agent)
        black_box = target is not None and target.is_black_box
        if black_box and f.fault in BLACK_BOX_UNSUPPORTED:
            raise PipelineError(
                f"{f.fault} needs the harness SDK inside the agent; {agent} is a "
                "black box (use kill, pause or restart on a command: agent)",
                where=where,
            )
        if f.fault == "kill" and black_box and target is not None and target.command is None:
            raise PipelineError(
                f"kill needs an agent the harness runs; {agent} is external", where=where
            )


def prepare(
    exp: Experiment,
    *,
    seed: int | None = None,
    broker: str | None = None,
    out_dir: str | Path | None = None,
    processes: bool = False,
) -> Prepared:
    """Step 1: pipeline, targets, workload and plan (nothing started, nothing written)."""
    seed = exp.seed if seed is None else seed
    broker = broker or exp.broker or "memory"
    if processes and (broker == "memory" or "://" not in broker):
        raise InputError(
            "agents in separate processes need a real broker (--broker amqp://...)",
            where="--processes",
        )
    spec = load_pipeline(exp.pipeline, overrides=exp.variants or None)
    _check_targets(exp, spec, processes)
    tag = "" if broker == "memory" else f"{uuid.uuid4().hex[:6]}-"
    partitions = bands.for_pipeline(spec)
    items = bands.cover(make_workload(exp, spec, seed, tag), partitions, seed)
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="harness-chaos-"))
    prefix = "" if broker == "memory" else f"h{uuid.uuid4().hex[:8]}."
    return Prepared(
        exp,
        spec,
        seed,
        broker,
        processes,
        out,
        prefix,
        items,
        plan(exp.faults, seed),
        partitions,
        run_tag=tag,
    )


def wire(p: Prepared, *, network: Any = None, keep_store: bool = False) -> Wired:
    """Step 2: the run for the mode, on a FaultyTransport, with hooks and the nemesis."""
    p.out.mkdir(parents=True, exist_ok=True)
    hist_path = p.out / "history.jsonl"
    if hist_path.exists():
        hist_path.unlink()
    store_dir = Path(tempfile.mkdtemp(prefix="harness-store-"))
    run_dir = p.out if keep_store else store_dir
    spec, prefix = p.spec, p.prefix

    def queue_of(name: str) -> str:
        return _queue_of(spec, prefix, name)

    def faulty_transport(recorder: Recorder) -> FaultyTransport:
        """The broker's transport with the plan's message faults in front of it."""
        return FaultyTransport(
            open_transport(p.broker, prefix=prefix),
            recorder,
            p.planned,
            p.seed,
            queue_of=queue_of,
            run_tag=p.run_tag,
            prefix=prefix,
        )

    if p.processes:
        from harness.processes import ProcessRun

        recorder = Recorder(hist_path, process=f"supervisor:{os.getpid()}")
        faulty = faulty_transport(recorder)
        inside = [
            f.to_dict()
            for f in p.planned
            if FAULTS[f.fault].family in ("message", "crash")
            or FAULTS[f.fault].target == "agent.dependency"
        ]
        prun = ProcessRun(
            spec,
            broker=p.broker,
            run_dir=p.out,
            seed=p.seed,
            faults=inside,
            transport=faulty,
            prefix=prefix,
            recorder=recorder,
            run_tag=p.run_tag,
            store=_sqlite(store_dir) if spec.store == "sqlite" else None,
        )
        driver = ProcessDriver(prun.host, network, prun)
        return Wired(prun, recorder, faulty, None, Nemesis(driver, recorder, p.planned), store_dir)
    # on disk only (a soak holds no events), one write per loop iteration (the run owns it)
    recorder = Recorder(hist_path, keep=False, batch=True)
    faulty = faulty_transport(recorder)
    hooks = ChaosHooks(recorder, p.planned, p.seed, run_tag=p.run_tag)
    run = PipelineRun(
        spec,
        broker=p.broker,
        recorder=recorder,
        run_dir=run_dir,
        hooks=hooks,
        transport=faulty,
        seed=p.seed,
        prefix=prefix,
        network=network,
    )
    if run.blackbox is not None:  # the black boxes' own output, beside the history
        run.blackbox.log_dir = p.out
    return Wired(
        run,
        recorder,
        faulty,
        hooks,
        Nemesis(InProcessDriver(run, hooks, network), recorder, p.planned),
        store_dir,
    )


def _sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / 'effects.sqlite3'}"


async def drive(p: Prepared, w: Wired, *, progress: Progress | None = None) -> None:
    """Step 3: start the fault clock and the nemesis, feed at the experiment's rate, settle."""
    exp = p.exp
    opts = checker_options(exp, p.spec, p.broker)
    described = {**exp.describe(), "checkers": opts}
    described["broker_tolerance"]["applied"] = p.broker != "memory"
    described["simulated"] = simulated()
    w.recorder.record(
        "note",
        note="experiment",
        experiment=described,
        plan=[f.to_dict() for f in p.planned],
        workload=len(p.items),
        bands=bands.exercised(p.items, p.partitions),
        processes=p.processes or None,
    )
    w.faulty.start_clock()
    if w.hooks is not None:
        w.hooks.start_clock()
    host = getattr(w.run, "host", None)
    if host is not None:
        host.start_clock()
    w.nemesis.start()
    probe = None if simulated() else LoadProbe()  # a virtual clock has no load to measure
    if probe is not None:
        probe.start()
    try:
        await feed(w.run, p.items, rate=exp.rate, progress=progress, every=10)
        await settle(
            w.run,
            settle_timeout(exp, p.processes),
            progress=progress,
            total=len(p.items),
            pending=_pending(w.faulty),
        )
    finally:
        if probe is not None:
            w.recorder.record("note", note="load", **await probe.stop())


#: agent processes take seconds to start again after a kill or crash
PROCESS_SETTLE_S = 90.0


def settle_timeout(exp: Experiment, processes: bool) -> float:
    """The experiment's settle timeout; with ``--processes`` at least PROCESS_SETTLE_S."""
    return max(exp.settle_timeout, PROCESS_SETTLE_S) if processes else exp.settle_timeout


def _pending(faulty: FaultyTransport) -> Any:
    async def pending() -> int:
        await faulty.release_due()
        return await faulty.pending()

    return pending


async def heal(p: Prepared, w: Wired, network: Any = None) -> None:
    """Step 4: the rollbacks (every fault healed), then let the last messages land."""
    await w.nemesis.heal()
    if network is not None and hasattr(network, "heal"):
        await network.heal()
    await w.faulty.heal()
    if w.hooks is not None:
        w.hooks.heal()
    await w.run.settle(timeout=min(2.0, p.exp.settle_timeout))
    await asyncio.sleep(0.05)  # let duplicates still in flight land


def judge(p: Prepared, events: Any, registry: Any) -> dict[str, Verdict]:
    """Step 5: the experiment's checkers on the recorded history."""
    opts = {k: dict(v) for k, v in checker_options(p.exp, p.spec, p.broker).items()}
    opts.setdefault("wire", {})["registry"] = registry
    return run_checkers(events, p.exp.checker_names(), opts)


async def run_experiment(
    exp: Experiment,
    *,
    seed: int | None = None,
    broker: str | None = None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    network: Any = None,
    keep_store: bool = False,
    processes: bool = False,
    coverage: bool = False,
) -> RunResult:
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
        processes: every agent in its own OS process (needs a real broker); process faults
            are real signals (kill -9, SIGSTOP/SIGCONT) and crashes SIGKILL the process.
        coverage: measure the agents' handler line coverage (coverage.py) during the run.
    """
    started = time.monotonic()
    p = prepare(exp, seed=seed, broker=broker, out_dir=out_dir, processes=processes)
    own_network = None
    if network is None and any(f.fault in NETWORK_FAULTS for f in p.planned):
        from harness.chaos.network import NetworkFaults

        # TOXIPROXY_URL if set, else the embedded server: no extra flag needed
        network = own_network = NetworkFaults()
    services = contextlib.AsyncExitStack()
    addresses = Addresses()
    w: Wired | None = None
    measured = HandlerCoverage(p.spec) if coverage else None
    try:
        # the experiment's own services (an agent's HTTP dependency) first: they bind free
        # ports and publish them, which the proxies' upstreams and the broker URL may name
        for ref in exp.services:
            factory = load_object(ref, base=exp.path.parent, where=f"{exp.path}: services")
            address = await services.enter_async_context(factory())
            addresses.publish("service", ref.rsplit(":", 1)[1], address)
        net_faults = [f for f in p.planned if f.fault in NETWORK_FAULTS]
        addresses.expand_params(net_faults, where=str(exp.path))
        if network is not None and hasattr(network, "prepare"):
            await network.prepare(net_faults)
            addresses.publish_proxies(network, net_faults)
        p.broker = addresses.expand(p.broker, where="--broker")
        w = wire(p, network=network, keep_store=keep_store)
        if measured is not None:
            measured.start()
        await w.run.start()
        # Collect now and freeze what exists: a full collection during the run would walk the
        # whole heap (every earlier run's leftovers in a test session) and stall every agent at
        # once for 100-300 ms; frozen, it walks only this run's objects. (A simulation runs
        # with automatic collection off: nothing to stall.)
        if not simulated():
            gc.collect()
            gc.freeze()
        try:
            await drive(p, w, progress=progress)
            await heal(p, w, network)
        finally:
            gc.unfreeze()
            await w.run.stop()
            if measured is not None:
                measured.stop()
            if p.broker != "memory":
                await _delete_queues(p.broker, p.prefix, p.spec)
    finally:
        await services.aclose()
        addresses.restore()
        if own_network is not None:
            await own_network.aclose()
        if w is not None:
            w.recorder.close()
            shutil.rmtree(w.store_dir, ignore_errors=True)
    assert w is not None
    if progress:
        progress("checking", len(p.items), w.run.settled_count, len(p.items))
    events = open_history(p.out / "history.jsonl")  # streamed by each reading below
    verdicts = judge(p, events, w.run.registry)
    valid = overall(verdicts)
    expected = {"valid": exp.expect_valid, "caught_by": list(exp.caught_by)}
    if p.processes:
        fired = dict(
            Counter(
                e["fault_id"]
                for e in events
                if e.get("kind") == "fault_start"
                and FAULTS.get(e.get("fault", ""), None) is not None
                and FAULTS[e["fault"]].family in ("message", "crash")
            )
        )
    else:
        fired = {**w.faulty.fired, **(w.hooks.fired if w.hooks else {})}
    opened = Counter(e["fault_id"] for e in events if e.get("kind") == "fault_start")
    for f in p.planned:  # window faults (kill, pause, latency...): each window opened counts
        if f.id not in fired and opened.get(f.id):
            fired[f.id] = opened[f.id]
    summary = summarise(
        events,
        verdicts=verdicts,
        pipeline=p.spec.name,
        seed=p.seed,
        broker=redact_url(p.broker),
        store=redact_url(w.run.store_url),
        elapsed_s=round(time.monotonic() - started, 3),
    )
    exercised = exercised_report(events)
    if measured is not None:
        exercised["coverage"] = measured.report()
    return RunResult(
        experiment=exp.describe(),
        seed=p.seed,
        broker=summary.broker,
        verdicts=verdicts,
        valid=valid,
        expected=expected,
        expectation_met=expectation_met(verdicts, valid, expected),
        plan=[f.to_dict() for f in p.planned],
        fired=fired,
        exercised=exercised,
        summary=summary.to_dict(),
        out_dir=str(p.out),
        elapsed_s=round(time.monotonic() - started, 3),
    )


_MS_METRICS = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
#: experiments with ``broker_tolerance`` get this many times the run's measured event-loop lag
#: (p99, capped by the latency checker) added to their millisecond budgets
LOAD_ALLOWANCE = 3.0


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
    always use the declared budgets. The same experiments (on every broker, memory included)
    get the latency checker's ``load_allowance``: budgets plus :data:`LOAD_ALLOWANCE` x the
    event-loop lag measured during the run (the ``load`` note), capped; the zoo's latency bugs
    get neither.
    """
    from harness.transport import latency_scale

    opts = {k: dict(v) for k, v in exp.checker_options().items()}
    if "exactly_once" in opts and spec.effects:  # business keys declared by the pipeline
        opts["exactly_once"]["unique"] = {
            **spec.effects,
            **(opts["exactly_once"].get("unique") or {}),
        }
    factor = exp.broker_latency_factor * (latency_scale(broker) if factor_applies(exp) else 1.0)
    if "latency" in opts and factor_applies(exp):  # on every broker, memory included
        opts["latency"].setdefault("load_allowance", LOAD_ALLOWANCE)
    if broker == "memory" or factor == 1.0 or "latency" not in opts:
        return opts
    lat = opts["latency"]
    budgets = {a: dict(b) for a, b in spec.all_budgets().items()}
    for agent, limits in (lat.get("budgets") or {}).items():
        budgets[agent] = {**budgets.get(agent, {}), **limits}
    lat["budgets"] = {
        a: {k: (round(v * factor, 3) if k in _MS_METRICS else v) for k, v in b.items()}
        for a, b in budgets.items()
    }
    lat["latency_factor"] = factor
    return opts


def _queue_of(spec: PipelineSpec, prefix: str, name: str) -> str:
    """The broker queue of a fault target (an external agent's queue has no prefix)."""
    agent = spec.agents.get(name)
    if agent is None:
        return prefix + name
    external = agent.blackbox is not None and agent.blackbox.external
    return agent.queue if external else prefix + agent.queue


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
