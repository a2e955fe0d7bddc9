"""Experiment files (chaos/*.yaml): workload, fault schedule, checkers with tolerances, seed.

The shape follows Chaos Toolkit (``title``, ``description``, ``steady-state-hypothesis`` with
probes and tolerances, ``method``, ``rollbacks``) with Jepsen's pieces in it::

    title: payments keep their promises under duplicates and crashes
    pipeline: ../examples/payments/pipeline.yaml      # relative to this file
    variants: {ledger: zoo.py:ledger_no_dedup}         # optional: agent -> handler (bug zoo)
    seed: 7
    workload:
      generator: payments            # default: the pipeline's workload (else drawn from the
                                     #   ingress schema); schema | payments | NAME (beside the
                                     #   pipeline: workload.py:NAME_workload) | FILE.py:function
      count: 60
      rate: 300                      # inputs per second (0: as fast as possible)
      mix: {valid: 0.8, invalid: 0.1, high_risk: 0.1}
    steady-state-hypothesis:         # the checkers, with tolerances
      title: nothing lost, nothing twice, budgets held
      probes:
        - checker: no_loss
        - checker: latency
          agent: fraud               # tolerances apply to this agent (default: end to end)
          tolerance: ["p99 <= 300ms", "fallback_rate <= 0.2"]
    method:                          # the fault schedule
      - fault: duplicate
        target: ledger               # agent (its input queue), agent.dependency, or "*"
        probability: 0.3
        at: 0                        # seconds after start, or [low, high] from the seed
        duration: 2                  # seconds; omitted: the whole run
        params: {copies: 1}
    rollbacks:
      - heal: all                    # every fault is healed at the end (always done)
    expect: {valid: true}            # the bug zoo: {valid: false, caught_by: [exactly_once]}
    settle_timeout: 20
    simulate: false                  # true: always run on the virtual clock (harness.sim)

``load_experiment`` returns an :class:`Experiment`; a bad file raises one PipelineError naming
the file, the line and the field. The file is checked against
``harness/schemas/experiment.schema.json`` first (docs/formats/experiment.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.schedule import ALL_FAULTS, PINNABLE_FAULTS, FaultSpec
from harness.checkers import CHECKERS
from harness.checkers.user import parse_rule
from harness.errors import PipelineError
from harness.pipeline import is_meta, load_object, load_yaml_with_lines
from harness.schemas import check_document
from harness.workload import WorkItem

__all__ = ["Experiment", "Probe", "load_experiment", "parse_tolerance"]

_TOL = re.compile(r"^\s*(p50|p95|p99|max|fallback_rate)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*$")


@dataclass(frozen=True)
class Probe:
    """A checker of the steady-state hypothesis and its options."""

    checker: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experiment:
    """A loaded experiment file."""

    path: Path
    title: str
    pipeline: Path
    seed: int
    generator: str | None
    count: int
    rate: float
    mix: dict[str, float]
    probes: list[Probe]
    faults: list[FaultSpec]
    variants: dict[str, str] = field(default_factory=dict)
    expect_valid: bool | str = True
    caught_by: list[str] = field(default_factory=list)
    settle_timeout: float = 20.0
    description: str = ""
    broker: str | None = None
    broker_latency_factor: float = 1.0
    services: list[str] = field(default_factory=list)
    simulate: bool = False
    #: ``workload.inputs``: the inputs written down one by one (harness.chaos.inputs)
    inputs: list[WorkItem] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def checker_names(self) -> list[str]:
        return [p.checker for p in self.probes]

    def checker_options(self) -> dict[str, dict[str, Any]]:
        """Checker name -> options (tolerances of several probes of one checker merged)."""
        out: dict[str, dict[str, Any]] = {}
        for p in self.probes:
            merged = out.setdefault(p.checker, {})
            for k, v in p.options.items():
                if k == "budgets":
                    b = merged.setdefault("budgets", {})
                    for agent, limits in v.items():
                        b[agent] = {**b.get(agent, {}), **limits}
                else:
                    merged[k] = v
        return out

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "title": self.title, "pipeline": str(self.pipeline),
                "seed": self.seed, "variants": self.variants,
                "workload": {"generator": self.generator, "count": self.count, "rate": self.rate,
                             "mix": self.mix},
                "checkers": self.checker_options(),
                "broker_tolerance": {"latency_factor": self.broker_latency_factor},
                "expect": {"valid": self.expect_valid, "caught_by": self.caught_by}}


def _where(path: Path, node: Any, name: str) -> str:
    line = None
    if isinstance(node, dict):
        key = name.rsplit(".", 1)[-1]
        line = (node.get("__lines__") or {}).get(key) or node.get("__line__")
    return f"{path}:{line}: {name}" if line else f"{path}: {name}"


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items() if not is_meta(k)}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _number(node: dict[str, Any], key: str, default: Any, path: Path, ctx: str, *,
            minimum: float = 0, integer: bool = False, maximum: float | None = None) -> Any:
    value = node.get(key, default)
    if value is None:
        return None
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < minimum or (maximum is not None
                                                                 and value > maximum):
        span = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise PipelineError(f"must be {'an integer' if integer else 'a number'} {span}, "
                            f"got {value!r}", where=_where(path, node, ctx + key))
    return value


def _range(node: dict[str, Any], key: str, default: Any, path: Path, ctx: str) -> Any:
    value = node.get(key, default)
    if value is None:
        return None
    if isinstance(value, list):
        if (len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                       for v in value) or value[0] > value[1] or value[0] < 0):
            raise PipelineError(f"must be seconds or [low, high], got {value!r}",
                                where=_where(path, node, ctx + key))
        return (float(value[0]), float(value[1]))
    return float(_number(node, key, default, path, ctx))


def parse_tolerance(text: Any, *, where: str) -> tuple[str, float]:
    """``"p99 <= 300ms"`` -> ("p99_ms", 300.0); ``"fallback_rate <= 0.2"`` -> (.., 0.2)."""
    m = _TOL.match(str(text)) if isinstance(text, str) else None
    if not m:
        raise PipelineError(f"tolerance {text!r} is not like 'p99 <= 300ms' or "
                            "'fallback_rate <= 0.2'", where=where)
    metric, _, number, unit = m.groups()
    value = float(number)
    if metric == "fallback_rate":
        if unit:
            raise PipelineError(f"fallback_rate is a fraction, not a time: {text!r}", where=where)
        return "fallback_rate", value
    if unit == "s":
        value *= 1000
    return f"{metric}_ms", value


def _probe(node: Any, path: Path, i: int) -> Probe:
    ctx = f"steady-state-hypothesis.probes[{i}]."
    if isinstance(node, str):
        node = {"checker": node}
    if isinstance(node, dict) and ("never" in node or "requires" in node):
        rule = parse_rule(_clean(node), where=_where(path, node, ctx.rstrip(".")))
        return Probe(str(node.get("name") or f"{rule['kind']} {rule['type']}"), {"rule": rule})
    if not isinstance(node, dict) or "checker" not in node:
        raise PipelineError("must be a mapping with 'checker' (or a rule: never/requires)",
                            where=_where(path, node, ctx.rstrip(".")))
    name = node["checker"]
    if name not in CHECKERS and isinstance(name, str) and ":" in name:
        # a user invariant: FILE.py:function beside the experiment, or module:function
        load_object(name, base=path.parent, where=_where(path, node, ctx + "checker"))
        module, _, attr = name.rpartition(":")
        ref = f"{(path.parent / module).resolve()}:{attr}" if module.endswith(".py") else name
        return Probe(str(node.get("name") or name), {"function": ref})
    if name not in CHECKERS:
        raise PipelineError(f"unknown checker {name!r} (known: {', '.join(CHECKERS)}, "
                            "FILE.py:function, or a never/requires rule)",
                            where=_where(path, node, ctx + "checker"))
    options = _clean(node.get("options") or {})
    if not isinstance(options, dict):
        raise PipelineError("must be a mapping", where=_where(path, node, ctx + "options"))
    tolerance = node.get("tolerance")
    if tolerance is not None:
        if name != "latency":
            raise PipelineError("only the latency checker takes tolerances",
                                where=_where(path, node, ctx + "tolerance"))
        items = tolerance if isinstance(tolerance, list) else [tolerance]
        target = str(node.get("agent", "end_to_end"))
        limits: dict[str, float] = {}
        for t in items:
            metric, value = parse_tolerance(t, where=_where(path, node, ctx + "tolerance"))
            if metric == "fallback_rate" and "agent" not in node:
                options["fallback_rate"] = value
            else:
                limits[metric] = value
        if limits:
            options.setdefault("budgets", {})[target] = limits
    return Probe(name, options)


def _fault(node: Any, path: Path, i: int) -> FaultSpec:
    ctx = f"method[{i}]."
    if not isinstance(node, dict) or "fault" not in node:
        raise PipelineError("must be a mapping with 'fault' (e.g. fault: duplicate)",
                            where=_where(path, node, ctx.rstrip(".")))
    kind = node["fault"]
    if kind not in ALL_FAULTS:
        raise PipelineError(f"unknown fault {kind!r} (known: {', '.join(sorted(ALL_FAULTS))})",
                            where=_where(path, node, ctx + "fault"))
    params = _clean(node.get("params") or {})
    if not isinstance(params, dict):
        raise PipelineError("must be a mapping", where=_where(path, node, ctx + "params"))
    if kind == "drop" and params.get("mode", "confirm") not in ("confirm", "lose"):
        raise PipelineError(f"drop mode must be confirm or lose, got {params.get('mode')!r}",
                            where=_where(path, node, ctx + "params"))
    message, correlation, hop = node.get("message"), node.get("correlation"), node.get("hop")
    if message is not None or correlation is not None or hop is not None:
        if kind not in PINNABLE_FAULTS:
            raise PipelineError(f"only per-message faults can be pinned to a message "
                                f"({', '.join(sorted(PINNABLE_FAULTS))}), not {kind!r}",
                                where=_where(path, node, ctx + "fault"))
        if hop is not None and correlation is None:
            raise PipelineError("hop needs correlation (the hop of which correlation?)",
                                where=_where(path, node, ctx + "hop"))
    if kind == "resubmit" and params.get("correlation", "same") not in ("same", "new"):
        raise PipelineError("resubmit correlation must be same or new, got "
                            f"{params.get('correlation')!r}",
                            where=_where(path, node, ctx + "params"))
    return FaultSpec(
        fault=kind, target=str(node.get("target", "*")),
        at=_range(node, "at", 0.0, path, ctx), duration=_range(node, "duration", None, path, ctx),
        probability=float(_number(node, "probability", 1.0, path, ctx, maximum=1)),
        repeat=int(_number(node, "repeat", 1, path, ctx, minimum=1, integer=True)),
        max=_number(node, "max", None, path, ctx, minimum=0, integer=True),
        params=params, line=node.get("__line__"),
        message=None if message is None else str(message),
        correlation=None if correlation is None else str(correlation),
        hop=None if hop is None else int(hop))


def load_experiment(path: str | Path) -> Experiment:
    """Load and check an experiment file.

    Raises:
        PipelineError: naming the file, line and field of the first problem.
    """
    path = Path(path).resolve()
    raw = load_yaml_with_lines(path)
    if not isinstance(raw, dict):
        raise PipelineError("must be a mapping with pipeline, workload and method", where=str(path))
    check_document(raw, "experiment", path)
    if "pipeline" not in raw:
        raise PipelineError("missing (e.g. pipeline: ../examples/payments/pipeline.yaml)",
                            where=_where(path, raw, "pipeline"))
    pipeline = (path.parent / str(raw["pipeline"])).resolve()
    if not pipeline.exists():
        raise PipelineError(f"no such pipeline file {pipeline}", where=_where(path, raw,
                                                                              "pipeline"))
    variants = raw.get("variants") or {}
    if not isinstance(variants, dict):
        raise PipelineError("must map agent names to FILE.py:ATTR", where=_where(path, raw,
                                                                                 "variants"))
    workload = raw.get("workload") or {}
    if not isinstance(workload, dict):
        raise PipelineError("must be a mapping", where=_where(path, raw, "workload"))
    mix = _clean(workload.get("mix") or {"valid": 0.85, "invalid": 0.05, "high_risk": 0.1})
    if (not isinstance(mix, dict) or not all(isinstance(v, (int, float)) and v >= 0
                                             for v in mix.values())
            or abs(sum(mix.values()) - 1) > 0.01):
        raise PipelineError(f"mix must map input kinds to shares that add up to 1, got {mix!r}",
                            where=_where(path, workload, "workload.mix"))
    hypothesis = raw.get("steady-state-hypothesis") or {}
    if not isinstance(hypothesis, dict):
        raise PipelineError("must be a mapping with probes",
                            where=_where(path, raw, "steady-state-hypothesis"))
    probes_node = hypothesis.get("probes")
    if probes_node is None:
        probes = [Probe(name) for name in CHECKERS if name != "history"]
    elif isinstance(probes_node, list) and probes_node:
        probes = [_probe(p, path, i) for i, p in enumerate(probes_node)]
    else:
        raise PipelineError("must be a non-empty list of checkers",
                            where=_where(path, hypothesis, "steady-state-hypothesis.probes"))
    method = raw.get("method") or []
    if not isinstance(method, list):
        raise PipelineError("must be a list of faults", where=_where(path, raw, "method"))
    faults = [_fault(f, path, i) for i, f in enumerate(method)]
    expect = raw.get("expect") or {}
    if not isinstance(expect, dict):
        raise PipelineError("must be {valid: true} or {valid: false, caught_by: [...]}",
                            where=_where(path, raw, "expect"))
    caught_by = expect.get("caught_by") or []
    if not isinstance(caught_by, list):
        caught_by = [caught_by]
    for name in caught_by:
        if name not in CHECKERS and name not in {p.checker for p in probes}:
            raise PipelineError(f"unknown checker {name!r}", where=_where(path, expect,
                                                                          "expect.caught_by"))
    seed = _number(raw, "seed", 0, path, "", integer=True)
    tol = raw.get("broker_tolerance") or {}
    if not isinstance(tol, dict) or set(k for k in tol if not is_meta(k)) - {"latency_factor"}:
        raise PipelineError("must be {latency_factor: N} (N >= 1)",
                            where=_where(path, raw, "broker_tolerance"))
    factor = float(_number(tol, "latency_factor", 1.0, path, "broker_tolerance.", minimum=1.0))
    services = raw.get("services") or []
    if not isinstance(services, list) or not all(isinstance(x, str) and ":" in x
                                                 for x in services):
        raise PipelineError("must be a list of FILE.py:function (async context managers)",
                            where=_where(path, raw, "services"))
    inputs = None
    if workload.get("inputs") is not None:
        from harness.chaos.inputs import load_inputs

        inputs = load_inputs(_clean(workload["inputs"]), base=path.parent,
                             where=_where(path, workload, "workload.inputs"))
    simulate = raw.get("simulate", False)
    if not isinstance(simulate, bool):
        raise PipelineError(f"must be true or false, got {simulate!r}",
                            where=_where(path, raw, "simulate"))
    return Experiment(
        path=path, title=str(raw.get("title", path.stem)), pipeline=pipeline, seed=int(seed),
        generator=str(workload["generator"]) if workload.get("generator") else None,
        count=len(inputs) if inputs is not None else int(
            _number(workload, "count", 60, path, "workload.", minimum=1, integer=True)),
        rate=float(_number(workload, "rate", 0, path, "workload.")),
        mix={str(k): float(v) for k, v in mix.items()}, probes=probes, faults=faults,
        variants={str(k): str(v) for k, v in variants.items() if not is_meta(k)},
        expect_valid=expect.get("valid", True), caught_by=[str(c) for c in caught_by],
        settle_timeout=float(_number(raw, "settle_timeout", 20, path, "", minimum=0.1)),
        description=str(raw.get("description", "")),
        broker=str(raw["broker"]) if raw.get("broker") else None,
        broker_latency_factor=factor, services=[str(x) for x in services], simulate=simulate,
        inputs=inputs,
        raw=_clean(raw))
