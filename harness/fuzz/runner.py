"""Drive Hypothesis over each agent's ingress and collect what it found.

One :class:`AgentProbe` (and one event loop) per agent is reused across examples; the store is
reset before each example so inputs stay independent and a failure shrinks cleanly. Hypothesis
runs with ``@seed(seed)``, no example database and no deadline: the same seed gives the same
inputs. A failure is shrunk to a minimal input and rendered as a ready-to-paste pytest test
(:func:`reproducer`) that calls :func:`replay`.

Input mix per example (drawn first, so it shrinks towards "valid"): about 36% valid payloads,
14% prompt injections (when a consumed schema has ``x-llm-input`` fields), 50% mutations (each
kind of ``MUTATIONS`` equally, re-classified by the oracle).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings
from hypothesis import strategies as st

from harness import forking
from harness.agents.probe import AgentProbe
from harness.agents.sdk import Agent, MessageRef
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope
from harness.errors import InputError
from harness.fuzz.case import Case, classify
from harness.fuzz.injection import CORPUS, benign_twin, render
from harness.fuzz.mutations import MUTATIONS, MutationContext
from harness.fuzz.properties import CaseResult, check_case
from harness.fuzz.strategies import PayloadStrategies, correlation_ids, envelope_for, llm_fields

__all__ = ["AgentReport", "Failure", "FuzzReport", "case_strategy", "fuzz_agent",
           "fuzz_pipeline", "replay", "reproducer"]

Progress = Callable[[str, int, int], None]
#: a budget of this many inputs or more is split between two processes (:func:`fuzz_agent`)
SPLIT_EXAMPLES = 200
PROCESSES_ENV = "HARNESS_FUZZ_PROCESSES"
#: the hex digits of an injection's canary token
_TOKENS = st.text("0123456789abcdef", min_size=8, max_size=8)


@dataclass
class Failure:
    """A shrunk failing input: the broken properties and a pytest test reproducing it."""

    agent: str
    problems: list[str]
    case: Case
    reproducer: str

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "problems": self.problems, "case": self.case.to_dict(),
                "reproducer": self.reproducer}


@dataclass
class AgentReport:
    """Per-agent results.

    Attributes:
        agent: the agent's name.
        inputs: inputs tried before the first failure (shrinking not counted).
        valid / invalid / injection: inputs by class (injections count as valid too).
        dead_lettered: inputs that ended in the dead-letter queue.
        kinds: inputs per kind (``valid``, mutation kinds, ``injection:*``).
        failures: shrunk failures (at most one per run: Hypothesis stops at the first).
        elapsed_s: wall time, including shrinking.
        skipped: why the agent was not fuzzed (a ``command:`` black box), else None.
    """

    agent: str
    seed: int
    inputs: int = 0
    valid: int = 0
    invalid: int = 0
    injection: int = 0
    dead_lettered: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    elapsed_s: float = 0.0
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def examples_per_s(self) -> float:
        return round(self.inputs / self.elapsed_s, 1) if self.elapsed_s else 0.0

    def merge(self, other: AgentReport) -> None:
        """Add ``other``'s counts (the second half of a split budget); its failure is kept
        only if this report has none (at most one per agent)."""
        self.inputs += other.inputs
        self.valid += other.valid
        self.invalid += other.invalid
        self.injection += other.injection
        self.dead_lettered += other.dead_lettered
        self.kinds.update(other.kinds)
        self.failures = self.failures or other.failures

    def add(self, result: CaseResult) -> None:
        self.inputs += 1
        self.valid += result.case.valid
        self.invalid += not result.case.valid
        self.injection += bool(result.case.canaries)
        self.dead_lettered += bool(result.reasons)
        self.kinds[result.case.kind.split(":")[0]] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "seed": self.seed, "ok": self.ok, "inputs": self.inputs,
                "valid": self.valid, "invalid": self.invalid, "injection": self.injection,
                "dead_lettered": self.dead_lettered, "kinds": dict(sorted(self.kinds.items())),
                "elapsed_s": round(self.elapsed_s, 3), "examples_per_s": self.examples_per_s,
                "skipped": self.skipped, "failures": [f.to_dict() for f in self.failures]}


@dataclass
class FuzzReport:
    """A whole ``harness fuzz`` run."""

    pipeline: str
    seed: int
    examples: int
    agents: list[AgentReport]
    http: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.agents) and all(h.ok for h in self.http)

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "seed": self.seed, "examples": self.examples,
                "ok": self.ok, "agents": [a.to_dict() for a in self.agents],
                "http": [h.to_dict() for h in self.http]}


def case_strategy(agent: Agent, registry: SchemaRegistry,
                  payloads: PayloadStrategies | None = None) -> st.SearchStrategy[Case]:
    """Inputs for ``agent``: valid, prompt-injected and mutated envelopes of what it consumes."""
    payloads = payloads or PayloadStrategies(registry)
    refs = [r for r in agent.consumes if (r.type, r.version) in registry]
    if not refs:
        raise InputError(f"agent {agent.name} consumes nothing the registry knows "
                         f"({', '.join(map(str, agent.consumes))})", where=str(registry.root))
    labels = st.sampled_from(["valid"] * 16 + ["injection"] * 6 + sorted(MUTATIONS))
    # every strategy built once here: one built inside the draw is re-validated on every draw
    pick_ref, cids, kinds, templates = (st.sampled_from(refs), correlation_ids(),
                                        st.sampled_from(sorted(MUTATIONS)), st.sampled_from(CORPUS))
    schemas = {ref: payloads.inlined(ref) for ref in refs}
    fields = {ref: [f for f in llm_fields(schemas[ref]) if len(f) == 1] for ref in refs}
    pick_field = {ref: st.sampled_from(f) for ref, f in fields.items() if f}
    contexts = {ref: MutationContext(registry, ref, schemas[ref], list(agent.consumes))
                for ref in refs}

    @st.composite
    def cases(draw: Any) -> Case:
        bucket = draw(labels)
        ref = draw(pick_ref)
        cid = draw(cids)
        env = envelope_for(ref, draw(payloads.valid(ref)), cid)
        if bucket == "valid":
            return _case("valid", ref, env, cid, agent, registry)
        if bucket == "injection" and ref in pick_field and isinstance(env.payload, dict):
            name = draw(pick_field[ref])[0]
            variant, template = draw(templates)
            token = "CANARY-" + draw(_TOKENS)
            return _injection_case(agent, registry, ref, env, schemas[ref], name, variant,
                                   template, token) or _case("valid", ref, env, cid, agent,
                                                             registry)
        kind = bucket if bucket in MUTATIONS else draw(kinds)
        mutated, note = MUTATIONS[kind](draw, env, contexts[ref])
        return _case(kind, ref, mutated, cid, agent, registry, note=note)

    return cases()


def _injection_case(agent: Agent, registry: SchemaRegistry, ref: MessageRef, env: Envelope,
                    schema: Any, name: str, variant: str, template: str,
                    token: str) -> Case | None:
    """``env`` with field ``name`` holding an injection string carrying ``token`` (None when
    the schema does not allow it), plus its benign twin for the steering check."""
    text = render(template, token)
    limit = (schema["properties"][name].get("maxLength") or len(text))
    payload = {**env.payload, name: text[:limit]}
    if not registry.is_valid(ref.type, ref.version, payload):
        return None
    twin = env.with_payload({**env.payload, name: benign_twin(text[:limit])})
    return _case(f"injection:{variant}", ref, env.with_payload(payload), env.correlation_id,
                 agent, registry, canaries=(token, text[:limit]),
                 note=f"{name}: {template[:40]}", twin=twin.to_bytes())


def injection_cases(agent: Agent, registry: SchemaRegistry,
                    payloads: PayloadStrategies) -> list[Case]:
    """Every injection template in every free-text (``x-llm-input``) field, on the simplest
    payload and on payloads with every number at its limits (so decisions that hinge on a
    threshold can be steered one way or the other)."""
    out: list[Case] = []
    for ref in agent.consumes:
        if (ref.type, ref.version) not in registry:
            continue
        schema = payloads.inlined(ref)
        fields = [f[0] for f in llm_fields(schema) if len(f) == 1]
        bases = [*payloads.extremes(ref), payloads.minimal(ref)]
        if not fields or not isinstance(bases[-1], dict):
            continue
        n = 0
        for name in fields:
            for (variant, template), base in itertools.product(CORPUS, bases):
                cid = f"fz-inj-{ref.type}-{n}"
                env = envelope_for(ref, base, cid)
                token = f"CANARY-{n:08x}"
                case = _injection_case(agent, registry, ref, env, schema, name, variant,
                                       template, token)
                if case is not None:
                    out.append(case)
                n += 1
    return out


def boundary_cases(agent: Agent, registry: SchemaRegistry,
                   payloads: PayloadStrategies) -> list[Case]:
    """One valid input per distinct boundary value of each consumed (type, version): an empty
    string, the longest allowed one, the numeric limits, every enum value... so a crash on a
    single field value is found whatever the seed."""
    out: list[Case] = []
    for ref in agent.consumes:
        if (ref.type, ref.version) not in registry:
            continue
        for n, payload in enumerate(payloads.boundary(ref)):
            cid = f"fz-edge-{ref.type}-{n}"
            out.append(_case("boundary", ref, envelope_for(ref, payload, cid), cid, agent,
                             registry))
    return out


def _case(kind: str, ref: MessageRef, message: Envelope | bytes, cid: str, agent: Agent,
          registry: SchemaRegistry, *, canaries: tuple[str, ...] = (), note: str = "",
          twin: bytes | None = None) -> Case:
    body = message.to_bytes() if isinstance(message, Envelope) else message
    valid, reason, env = classify(body, list(agent.consumes), registry)
    if valid and kind != "valid" and not canaries:
        kind = f"{kind}:still_valid"
    return Case(kind, str(ref), body, cid, valid, reason,
                env.message_id if env is not None else None, canaries, note, twin)


def settle_timeout(agent: Agent) -> float:
    """Per-input settle timeout: the agent's handler timeout plus one second, at least 5 s
    (validating a 1 MB envelope takes a while; the runtime times the handler out itself)."""
    return max(agent.timeout + 1.0, 5.0)


class _PropertyFailed(AssertionError):
    pass


def fuzz_agent(agent: Agent, registry: SchemaRegistry, *, examples: int = 100, seed_: int = 0,
               params: dict[str, Any] | None = None, dependencies: dict[str, Any] | None = None,
               pipeline: str | None = None, progress: Progress | None = None,
               timeout: float | None = None, probe: Any = None) -> AgentReport:
    """Fuzz one agent's ingress with ``examples`` inputs from ``seed_``.

    A budget of :data:`SPLIT_EXAMPLES` or more, on a machine with two processors, is split
    between this process and a forked child (``HARNESS_FUZZ_PROCESSES=1`` keeps it to one):
    this process runs the deterministic sweep and half of the generated inputs from ``seed_``,
    the child the other half from :func:`second_seed` (``seed_``), each with its own probe;
    the reports are added up. The same seed still gives the same inputs.

    Args:
        agent: the agent (its runtime runs in an :class:`AgentProbe` on the memory transport).
        registry: the schema registry.
        examples: inputs to generate (Hypothesis ``max_examples``).
        seed_: the seed; the same seed gives the same inputs.
        params / dependencies: as the pipeline file gives them.
        pipeline: the pipeline file, named in reproducers.
        progress: called with (agent, inputs done, examples) after each input.
        timeout: per-input settle timeout (default: :func:`settle_timeout`).
        probe: what runs the agent (default: an :class:`AgentProbe`; a black box's
            :class:`harness.blackbox.driver.BlackBoxDriver` fuzzes it through its queue, on
            one process).

    Returns:
        An :class:`AgentReport`; never raises for a property failure.
    """
    one = functools.partial(_fuzz_one, agent, registry, params=params,
                            dependencies=dependencies, pipeline=pipeline, timeout=timeout)
    if probe is not None or examples < SPLIT_EXAMPLES or not forking.allowed(PROCESSES_ENV):
        return one(examples=examples, seed_=seed_, progress=progress, probe=probe)
    started = time.monotonic()
    mine = (examples + 1) // 2
    scaled = None if progress is None else (  # both halves run at about the same speed
        lambda name, done, _: progress(name, min(examples, done * examples // mine), examples))
    report, other = forking.both(
        functools.partial(one, examples=mine, seed_=seed_, progress=scaled, sweep=examples),
        functools.partial(one, examples=examples - mine, seed_=second_seed(seed_), sweep=0),
        lambda got: isinstance(got, AgentReport))
    report.merge(other)
    report.elapsed_s = time.monotonic() - started
    if progress is not None:
        progress(agent.name, report.inputs, examples)
    return report


def second_seed(seed_: int) -> int:
    """The seed of the second half of a split budget (:func:`fuzz_agent`)."""
    return seed_ + (1 << 32)


def _fuzz_one(agent: Agent, registry: SchemaRegistry, *, examples: int, seed_: int,
              params: dict[str, Any] | None, dependencies: dict[str, Any] | None,
              pipeline: str | None, progress: Progress | None = None,
              timeout: float | None = None, probe: Any = None, sweep: int | None = None
              ) -> AgentReport:
    """:func:`fuzz_agent` on this process. The explicit injections and boundary values come
    first, as many as a budget of ``sweep`` inputs holds (default ``examples``; 0: none)."""
    report = AgentReport(agent.name, seed_)
    payloads = PayloadStrategies(registry)
    strategy = case_strategy(agent, registry, payloads)
    loop = asyncio.new_event_loop()
    if probe is None:
        probe = AgentProbe(agent, registry, params=params, dependencies=dependencies,
                           timeout=timeout if timeout is not None else settle_timeout(agent))
    refs = [r for r in agent.consumes if (r.type, r.version) in registry]
    beat = envelope_for(refs[0], payloads.minimal(refs[0]), "fz-heartbeat")
    state: dict[str, Any] = {"failed": None}
    started = time.monotonic()
    # every injection template and boundary value first, deterministically (explicit
    # examples), at most a quarter of the budget; then Hypothesis generates the rest
    budget = examples if sweep is None else sweep
    injections = injection_cases(agent, registry, payloads)[: budget // 6] if budget else []
    explicit = injections + (boundary_cases(agent, registry, payloads)[: budget // 4
                                                                      - len(injections)]
                             if budget else [])

    async def one(case: Case) -> CaseResult:  # one loop entry per input
        await probe.store.reset()
        return await check_case(probe, case, heartbeat=beat)

    @settings(max_examples=max(1, examples - len(explicit)), deadline=None, database=None,
              derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
    @seed(seed_)
    @given(case=strategy)
    def prop(case: Case) -> None:
        result = loop.run_until_complete(one(case))
        if state["failed"] is None:
            report.add(result)
            if progress is not None:
                progress(agent.name, report.inputs, examples)
        if not result.ok:
            state["failed"] = result
            raise _PropertyFailed("; ".join(result.failures))

    for case in reversed(explicit):
        prop = example(case=case)(prop)
    try:
        loop.run_until_complete(probe.start())
        prop()
    except Exception as exc:  # Hypothesis re-raises the minimal failure (or Flaky, or ours)
        last: CaseResult | None = state["failed"]
        if last is None:
            raise
        if not isinstance(exc, _PropertyFailed):
            last.failures.append(f"(not reproducible on replay: {type(exc).__name__})")
        report.failures.append(Failure(agent.name, last.failures, last.case,
                                       reproducer(agent.name, last, pipeline=pipeline,
                                                  seed_=seed_, registry=_rel(registry.root))))
    finally:
        loop.run_until_complete(probe.stop())
        loop.close()
    report.elapsed_s = time.monotonic() - started
    return report


def fuzz_pipeline(path: str | Path, *, agent: str | None = None, examples: int = 100,
                  seed_: int = 0, progress: Progress | None = None,
                  broker: str | None = None, http: bool = True) -> FuzzReport:
    """Fuzz every agent of a pipeline file (or only ``agent``); black boxes through their
    queue on ``broker`` (RabbitMQ), skipped without one; agents' ``http:`` endpoints too
    (Schemathesis) unless ``http`` is false."""
    from harness.pipeline import load_pipeline

    spec = load_pipeline(path)
    if agent is not None and agent not in spec.agents:
        raise InputError(f"no agent {agent!r} (agents: {', '.join(spec.agents)})",
                         where=f"{path}: agents")
    registry = SchemaRegistry(spec.registry_path)
    reports = []
    http_reports = []
    for name, aspec in spec.agents.items():
        if agent is not None and name != agent:
            continue
        node = (spec.raw.get("agents") or {}).get(name) or {}
        if http and node.get("http"):
            from harness.fuzz.http import fuzz_http

            http_reports.append(fuzz_http(str(node["http"]), examples=examples, seed_=seed_,
                                          openapi=str(node.get("openapi", "/openapi.json")),
                                          base=spec.path.parent, agent=name))
        if aspec.agent is None:
            if broker is None or broker == "memory":
                reports.append(AgentReport(name, seed_, skipped="black box: fuzzed through its "
                                           "queue with --broker amqp://..."))
                continue
            from harness.blackbox.driver import BlackBoxDriver, agent_of

            driver = BlackBoxDriver(spec, name, broker=broker, registry=registry,
                                    timeout=min(10.0, max(2.0, aspec.timeout)))
            reports.append(fuzz_agent(agent_of(aspec), registry, examples=examples, seed_=seed_,
                                      pipeline=str(path), progress=progress, probe=driver))
            continue
        reports.append(fuzz_agent(aspec.agent, registry, examples=examples, seed_=seed_,
                                  params=aspec.params, dependencies=aspec.dependencies,
                                  pipeline=str(path), progress=progress))
    return FuzzReport(str(path), seed_, examples, reports, http_reports)


def replay(*, body: bytes, correlation_id: str, agent: str | Agent,
           pipeline: str | Path | None = None, registry: str | Path | SchemaRegistry | None = None,
           canaries: tuple[str, ...] = (), twin: bytes | None = None) -> list[str]:
    """Re-run one input against an agent and return the broken properties (empty: it passed).

    ``agent`` is a name in ``pipeline`` or an :class:`Agent` (then ``registry`` is its registry
    folder, default the bundled ``contracts/``).
    """
    params: dict[str, Any] = {}
    deps: dict[str, Any] = {}
    if isinstance(agent, str):
        from harness.pipeline import load_pipeline

        if pipeline is None:
            raise InputError("replay by agent name needs pipeline=")
        spec = load_pipeline(pipeline)
        aspec = spec.agents[agent]
        if aspec.agent is None:
            raise InputError(f"agent {agent} is a command, not in-process")
        agent_obj, params, deps = aspec.agent, aspec.params, aspec.dependencies
        reg = SchemaRegistry(spec.registry_path)
    else:
        agent_obj = agent
        reg = registry if isinstance(registry, SchemaRegistry) else SchemaRegistry(registry)
    valid, reason, env = classify(body, list(agent_obj.consumes), reg)
    refs = [r for r in agent_obj.consumes if (r.type, r.version) in reg]
    case = Case("replay", str(refs[0]), body, correlation_id, valid, reason,
                env.message_id if env else None, tuple(canaries), twin=twin)
    beat = envelope_for(refs[0], PayloadStrategies(reg).minimal(refs[0]), "fz-heartbeat")

    async def go() -> list[str]:
        async with AgentProbe(agent_obj, reg, params=params, dependencies=deps,
                              timeout=settle_timeout(agent_obj)) as probe:
            return (await check_case(probe, case, heartbeat=beat)).failures

    return asyncio.run(go())


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _body_literal(body: bytes) -> str:
    if len(body) <= 3000:
        return repr(body)
    packed = base64.b64encode(zlib.compress(body, 9)).decode()
    return f'zlib.decompress(base64.b64decode("{packed}"))'


def reproducer(agent: str, result: CaseResult, *, pipeline: str | None, seed_: int,
               registry: str = "contracts") -> str:
    """A ready-to-paste pytest test that replays the shrunk input."""
    case = result.case
    slug = "".join(c if c.isalnum() else "_" for c in f"{agent}_{case.kind}").lower()
    target = (f'agent="{agent}", pipeline="{pipeline}"' if pipeline else
              f"# AGENT: the agent under test ({agent})\n"
              f"        agent=AGENT, registry={registry!r}")
    big = len(case.body) > 3000 or len(case.twin or b"") > 3000
    imports = "    import base64, zlib\n" if big else ""
    canaries = f"        canaries={case.canaries!r},\n" if case.canaries else ""
    if case.twin is not None:
        canaries += f"        twin={_body_literal(case.twin)},\n"
    problems = "\n".join(f"    #   {p}" for p in result.failures)
    return (
        f"def test_fuzz_{slug}():\n"
        f"    # found by: harness fuzz --pipeline {pipeline or '...'} --agent {agent} "
        f"--seed {seed_}\n"
        f"    # input: {case.kind} of {case.ref} ({case.note or 'as generated'}), "
        f"valid={case.valid}\n"
        f"    # broken properties:\n{problems}\n"
        f"{imports}"
        f"    from harness.fuzz import replay\n\n"
        f"    problems = replay(\n"
        f"        {target},\n"
        f"        body={_body_literal(case.body)},\n"
        f"        correlation_id={case.correlation_id!r},\n"
        f"{canaries}"
        f"    )\n"
        f"    assert problems == [], problems\n"
    )
