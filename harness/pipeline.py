"""Pipeline files: agents, topology, budgets, fallbacks and stores, declared in YAML.

Example (examples/payments/pipeline.yaml)::

    name: payments
    topology: orchestrated          # or choreographed
    registry: ../../contracts       # relative to this file
    ingress: payment.requested@1    # what a workload sends
    workload: workload.py:payments  # optional generator FILE.py:function or module:function,
                                    #   def f(n, seed, *, mix, run_tag) -> list[WorkItem];
                                    #   without it inputs are drawn from the ingress schema
    store: sqlite                   # memory | sqlite (a file in the run folder) | URL
    delivery_limit: 5               # deliveries of one message before it is dead-lettered
    budgets: {end_to_end: {p99_ms: 2000}}
    agents:
      fraud:
        handler: agents.py:fraud    # FILE.py:ATTR (relative to this file) or module:attr
        timeout_ms: 500
        concurrency: 8
        replicas: 1
        budget: {p99_ms: 200}
        fallback: true              # allow the agent's fallback handler on timeout
        dependencies:
          risk_model: {timeout_ms: 100, fallback: agents.py:cached_risk,
                       errors: [agents.py:ModelOverloaded]}  # also fall back on these
        params: {high_risk_cents: 500000}
      legacy:
        command: [python, -m, legacy_agent]   # a black box speaking envelopes on the broker
        http: pricing_api.py:app              # optional: its ASGI app, fuzzed by Schemathesis
        openapi: /openapi.json                #   (path of its OpenAPI document in the app)
        consumes: [payment.accepted@1]
        emits: [payment.risk_assessed@1]

``load_pipeline`` returns a :class:`PipelineSpec`; every error names the file, line and field.
The file is checked against ``harness/schemas/pipeline.schema.json`` first
(docs/formats/pipeline.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.agents.context import Dependency
from harness.agents.sdk import Agent, MessageRef, parse_ref
from harness.blackbox.settings import black_box_settings, terminal_outcomes
from harness.errors import PipelineError
from harness.safe_yaml import MAX_YAML_BYTES, check_yaml_text, decode_text
from harness.schemas import check_document

__all__ = ["AgentSpec", "PipelineSpec", "load_object", "load_pipeline"]



class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers each mapping's line (as ``__line__``)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value
                            if isinstance(k, yaml.ScalarNode)}
    return mapping


def is_meta(key: object) -> bool:
    """True for the line-number keys the loader adds (``__line__``, ``__lines__``)."""
    return isinstance(key, str) and key.startswith("__")


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_with_lines(path: Path) -> Any:
    """Parse YAML, annotating every mapping with ``__line__``; errors name file and line."""
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise PipelineError(f"larger than {MAX_YAML_BYTES // 1024} KiB",
                                where=str(path))
        text = decode_text(path.read_bytes(), str(path))
    except FileNotFoundError as exc:
        raise PipelineError("no such file", where=str(path)) from exc
    except IsADirectoryError as exc:
        raise PipelineError("is a folder, not a file", where=str(path)) from exc
    check_yaml_text(text, str(path))  # too deep, self-containing or alias-bombed: refused
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise PipelineError("nested too deeply", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"not valid YAML: {problem}", where=f"{path}:{line}") from exc


def load_object(ref: str, *, base: Path, where: str) -> Any:
    """Import ``FILE.py:ATTR`` (relative to ``base``) or ``package.module:attr``."""
    if ":" not in ref:
        raise PipelineError(f"{ref!r} is not MODULE:ATTR or FILE.py:ATTR", where=where)
    module_ref, attr = ref.rsplit(":", 1)
    try:
        if module_ref.endswith(".py"):
            path = (base / module_ref).resolve()
            if not path.exists():
                raise PipelineError(f"no such file {path}", where=where)
            mod_name = "harness_user." + "_".join(path.with_suffix("").parts[-3:]).replace(
                "-", "_").replace(".", "_")
            module = sys.modules.get(mod_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                if str(path.parent) not in sys.path:
                    sys.path.insert(0, str(path.parent))
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
    except PipelineError:
        raise
    except Exception as exc:
        raise PipelineError(f"cannot import {module_ref}: {type(exc).__name__}: {exc}",
                            where=where) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise PipelineError(f"{module_ref} has no attribute {attr!r}", where=where) from exc


@dataclass
class AgentSpec:
    """One agent as the pipeline declares it."""

    name: str
    agent: Agent | None
    command: list[str] | None
    consumes: list[MessageRef]
    emits: list[MessageRef]
    timeout: float
    concurrency: int = 8
    replicas: int = 1
    budget: dict[str, float] = field(default_factory=dict)
    allow_fallback: bool = True
    dependencies: dict[str, Dependency] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    queue: str = ""
    handler_ref: str = ""
    #: black-box settings (``external``, ``database``, ``probes``, ``env``; harness.blackbox)
    blackbox: Any = None

    @property
    def is_black_box(self) -> bool:
        """A ``command:`` or ``external:`` agent (no harness SDK inside)."""
        return self.agent is None


@dataclass
class PipelineSpec:
    """A loaded pipeline file."""

    name: str
    path: Path
    topology: str
    registry_path: Path
    ingress: MessageRef
    store: str
    delivery_limit: int
    agents: dict[str, AgentSpec]
    budgets: dict[str, dict[str, float]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    #: the pipeline's workload generator (``FILE.py:function``), None: drawn from the schema
    workload: str | None = None
    #: agent -> handler ref that replaced the file's (an experiment's variants)
    overrides: dict[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """``file:line: key`` of a top-level key (for errors)."""
        return _where(self.path, self.raw, key)
    #: effect name -> the fields of its business key (``effects: {ledger.post: {unique: ..}}``)
    effects: dict[str, list[str]] = field(default_factory=dict)
    #: message type -> field -> band edges (numbers) or values the workload must cover
    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: message type -> the outcome it means when a black box publishes it (``outcomes:``)
    outcomes: dict[str, Any] = field(default_factory=dict)

    def consumers_of(self, message_type: str) -> list[AgentSpec]:
        """Agents that consume a type (in file order)."""
        return [a for a in self.agents.values() if any(r.type == message_type for r in a.consumes)]

    def all_budgets(self) -> dict[str, dict[str, float]]:
        """Latency budgets by agent name, plus the pipeline's own (``end_to_end``)."""
        out = {name: dict(a.budget) for name, a in self.agents.items() if a.budget}
        out.update({k: dict(v) for k, v in self.budgets.items()})
        return out

    def fallbacks(self) -> dict[str, list[str]]:
        """Agent -> the dependencies it has a fallback for (``handler`` for a fallback
        handler the pipeline allows)."""
        out: dict[str, list[str]] = {}
        for name, a in self.agents.items():
            deps = [d.name for d in a.dependencies.values() if d.fallback is not None]
            if a.agent is not None and a.agent.fallback_fn is not None and a.allow_fallback:
                deps.append("handler")
            if deps:
                out[name] = deps
        return out

    def queues_for(self, message_type: str) -> list[str]:
        """Input queues that receive a type."""
        return [a.queue for a in self.consumers_of(message_type)]


def _where(path: Path, node: Any, field_name: str) -> str:
    line = None
    if isinstance(node, dict):
        key = field_name.rsplit(".", 1)[-1]
        line = node.get("__lines__", {}).get(key) or node.get("__line__")
    return f"{path}:{line}: {field_name}" if line else f"{path}: {field_name}"


def _num(node: dict[str, Any], key: str, default: float, path: Path, ctx: str, *,
         minimum: float = 0, integer: bool = False) -> float:
    value = node.get(key, default)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise PipelineError(f"must be {kind} >= {minimum}, got {value!r}",
                            where=_where(path, node, f"{ctx}{key}"))
    return value


def _agent_spec(name: str, node: Any, path: Path) -> AgentSpec:
    ctx = f"agents.{name}."
    if not isinstance(node, dict):
        raise PipelineError("must be a mapping", where=f"{path}: agents.{name}")
    has_handler, has_command = "handler" in node, "command" in node
    if has_handler + has_command + ("external" in node) != 1:
        raise PipelineError("needs exactly one of 'handler', 'command' or 'external'",
                            where=_where(path, node, ctx.rstrip(".")))
    agent: Agent | None = None
    command = None
    if has_handler:
        obj = load_object(str(node["handler"]), base=path.parent,
                          where=_where(path, node, ctx + "handler"))
        if not isinstance(obj, Agent):
            raise PipelineError(f"{node['handler']} is a {type(obj).__name__}, not a "
                                "harness Agent", where=_where(path, node, ctx + "handler"))
        agent = obj
        consumes, emits = list(agent.consumes), list(agent.emits)
    elif has_command:
        command = node["command"]
        if isinstance(command, str):
            command = command.split()
        if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            raise PipelineError("must be a command line (string or list of strings)",
                                where=_where(path, node, ctx + "command"))
        consumes, emits = [], []
    else:
        consumes, emits = [], []
    for key, target in (("consumes", consumes), ("emits", emits)):
        if key in node:
            refs = node[key]
            if not isinstance(refs, list):
                raise PipelineError("must be a list of TYPE@VERSION",
                                    where=_where(path, node, ctx + key))
            target[:] = [parse_ref(r, where=_where(path, node, ctx + key)) for r in refs]
    timeout = _num(node, "timeout_ms", (agent.timeout * 1000) if agent else 5000, path, ctx,
                   minimum=1) / 1000
    deps: dict[str, Dependency] = {}
    for dep_name, dep in (node.get("dependencies") or {}).items():
        if is_meta(dep_name):
            continue
        if not isinstance(dep, dict):
            raise PipelineError("must be a mapping", where=_where(path, node,
                                                                  f"{ctx}dependencies.{dep_name}"))
        fallback = None
        if dep.get("fallback"):
            where = _where(path, dep, f"{ctx}dependencies.{dep_name}.fallback")
            fallback = load_object(str(dep["fallback"]), base=path.parent, where=where)
        errors = []
        refs = dep.get("errors") or []
        where = _where(path, dep, f"{ctx}dependencies.{dep_name}.errors")
        if not isinstance(refs, list):
            raise PipelineError("must be a list of MODULE:ExceptionClass", where=where)
        for ref in refs:
            exc_type = load_object(str(ref), base=path.parent, where=where)
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise PipelineError(f"{ref} is not an exception class", where=where)
            errors.append(exc_type)
        deps[dep_name] = Dependency(
            dep_name, _num(dep, "timeout_ms", 1000, path, f"{ctx}dependencies.{dep_name}.",
                           minimum=1) / 1000, fallback, tuple(errors))
    budget = node.get("budget") or {}
    if not isinstance(budget, dict):
        raise PipelineError("must be a mapping like {p99_ms: 200}",
                            where=_where(path, node, ctx + "budget"))
    if agent is not None:
        agent = agent.variant(timeout=timeout, version=str(node.get("version", agent.version)),
                              consumes=consumes, emits=emits)
    params = node.get("params") or {}
    params = {k: v for k, v in params.items() if not is_meta(k)}
    return AgentSpec(
        name=name, agent=agent, command=command, consumes=consumes, emits=emits, timeout=timeout,
        concurrency=int(_num(node, "concurrency", 8, path, ctx, minimum=1, integer=True)),
        replicas=int(_num(node, "replicas", 1, path, ctx, minimum=1, integer=True)),
        budget={k: float(v) for k, v in budget.items() if not is_meta(k)},
        allow_fallback=bool(node.get("fallback", True)), dependencies=deps, params=params,
        queue=str(node.get("queue", name)), handler_ref=str(node.get("handler", "")),
        blackbox=None if has_handler else black_box_settings(
            name, node, path, _where),
    )


def load_pipeline(path: str | Path, *, overrides: dict[str, str] | None = None) -> PipelineSpec:
    """Load and check a pipeline file.

    Args:
        path: the YAML file.
        overrides: agent name -> handler ref, replacing the file's handler (variants).

    Raises:
        PipelineError: naming the file, line and field of the first problem.
    """
    path = Path(path).resolve()
    raw = load_yaml_with_lines(path)
    if not isinstance(raw, dict):
        raise PipelineError("must be a mapping with 'agents'", where=str(path))
    check_document(raw, "pipeline", path)
    topology = raw.get("topology", "choreographed")
    if topology not in ("orchestrated", "choreographed"):
        raise PipelineError(f"must be orchestrated or choreographed, got {topology!r}",
                            where=_where(path, raw, "topology"))
    agents_node = raw.get("agents")
    if not isinstance(agents_node, dict) or not [k for k in agents_node if not is_meta(k)]:
        raise PipelineError("must map agent names to their settings",
                            where=_where(path, raw, "agents"))
    agents_node = dict(agents_node)
    for name, ref in (overrides or {}).items():
        if name not in agents_node:
            raise PipelineError(f"no agent {name!r} to replace", where=f"{path}: agents")
        agents_node[name] = {**agents_node[name], "handler": ref}
    agents = {name: _agent_spec(str(name), node, path)
              for name, node in agents_node.items() if not is_meta(name)}
    if "ingress" not in raw:
        raise PipelineError("missing (e.g. ingress: payment.requested@1)",
                            where=_where(path, raw, "ingress"))
    ingress = parse_ref(raw["ingress"], where=_where(path, raw, "ingress"))
    workload = raw.get("workload")
    if workload is not None and (not isinstance(workload, str) or ":" not in workload):
        raise PipelineError("must be FILE.py:function or module:function (a generator "
                            "def f(n, seed, *, mix, run_tag) -> list[WorkItem])",
                            where=_where(path, raw, "workload"))
    registry_path = (path.parent / str(raw.get("registry", "contracts"))).resolve()
    if not registry_path.is_dir():
        raise PipelineError(f"registry folder {registry_path} not found",
                            where=_where(path, raw, "registry"))
    spec = PipelineSpec(
        name=str(raw.get("name", path.stem)), path=path, topology=topology,
        registry_path=registry_path, ingress=ingress, store=str(raw.get("store", "sqlite")),
        delivery_limit=int(_num(raw, "delivery_limit", 5, path, "", minimum=1, integer=True)),
        agents=agents,
        budgets={k: {kk: float(vv) for kk, vv in v.items() if not is_meta(kk)}
                 for k, v in (raw.get("budgets") or {}).items() if not is_meta(k)},
        raw=raw, workload=workload, overrides=dict(overrides or {}),
    )
    spec.effects = _effects(raw, path)
    spec.partitions = _partitions(raw, path)
    spec.outcomes = terminal_outcomes(raw, path, _where)
    if not spec.consumers_of(ingress.type):
        raise PipelineError(f"no agent consumes the ingress type {ingress.type}",
                            where=_where(path, raw, "ingress"))
    return spec


def _effects(raw: dict[str, Any], path: Path) -> dict[str, list[str]]:
    """``effects: {NAME: {unique: FIELD | [FIELDS]}}``: business keys the exactly_once checker
    holds each effect to (one application per key value, under any correlation)."""
    node = raw.get("effects") or {}
    if not isinstance(node, dict):
        raise PipelineError("must map effect names to {unique: [fields]}",
                            where=_where(path, raw, "effects"))
    out: dict[str, list[str]] = {}
    for name, spec in node.items():
        if is_meta(name):
            continue
        fields = spec.get("unique") if isinstance(spec, dict) else None
        if isinstance(fields, str):
            fields = [fields]
        extra = sorted(k for k in spec if not is_meta(k) and k != "unique") if isinstance(
            spec, dict) else []
        if (not isinstance(fields, list) or not fields or extra
                or not all(isinstance(f, str) and f for f in fields)):
            raise PipelineError("must be {unique: FIELD} or {unique: [FIELDS]}",
                                where=_where(path, node, f"effects.{name}"))
        out[str(name)] = list(fields)
    return out


def _partitions(raw: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """``partitions: {TYPE: {FIELD: [edges or values]}}``: bands of the input space the
    workload must cover (numbers: band edges inside the schema's range; else: values)."""
    node = raw.get("partitions") or {}
    if not isinstance(node, dict):
        raise PipelineError("must map message types to {field: [edges or values]}",
                            where=_where(path, raw, "partitions"))
    out: dict[str, dict[str, Any]] = {}
    for mtype, fields in node.items():
        if is_meta(mtype):
            continue
        if not isinstance(fields, dict):
            raise PipelineError("must map field names to a list of edges or values",
                                where=_where(path, node, f"partitions.{mtype}"))
        for fname, values in fields.items():
            if is_meta(fname):
                continue
            if isinstance(values, dict):
                values = {k: v for k, v in values.items() if not is_meta(k)}
                bad = set(values) - {"edges", "values", "high_risk"}
                ok = not bad and (("edges" in values) != ("values" in values)) and all(
                    isinstance(v, list) for v in values.values())
            else:
                ok = isinstance(values, list) and bool(values)
            if not ok:
                raise PipelineError("must be a list of band edges or values, or {edges: [...] "
                                    "| values: [...], high_risk: [...]}",
                                    where=_where(path, fields, f"partitions.{mtype}.{fname}"))
            out.setdefault(str(mtype), {})[str(fname)] = values
    return out
