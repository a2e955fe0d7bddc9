"""What a provider verification runs: one agent of a pipeline, maybe a variant, with its states.

The agent comes from a pipeline file (``--pipeline``, else ``./pipeline.yaml``), optionally
replaced by:

- ``agent_ref`` (``examples/payments/agents.py:fraud_v2``, relative to the working folder);
- a pipeline variant: the pipeline file's ``variants: {NAME: {AGENT: HANDLER, registry_overlay:
  DIR}}`` (paths relative to the pipeline file);
- an incident file (``chaos/incidents/*.yaml``): ``{title, pipeline, variants: {AGENT:
  HANDLER}, seed, registry_overlay}`` (paths relative to the incident file; handlers relative to
  the pipeline file).

A registry overlay is a folder laid out like ``contracts/`` whose schema versions are added to
the pipeline's registry: a variant that emits a version the main registry does not (yet) hold
carries it there, so the repository's own registry and its compatibility check stay honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.agents.context import Dependency
from harness.agents.sdk import Agent
from harness.contracts.registry import SchemaRegistry, default_registry_path
from harness.contracts.states import ProviderStates, StateFn
from harness.errors import InputError, PipelineError
from harness.pipeline import is_meta, load_object, load_pipeline, load_yaml_with_lines
from harness.schemas import check_document

__all__ = ["ProviderTarget", "default_pipeline", "find_pipeline", "overlay_registry",
           "resolve_target"]


@dataclass
class ProviderTarget:
    """A provider agent ready to verify.

    Attributes:
        agent: the agent (its real handler produces the messages).
        registry: schemas for its ingress and egress validation.
        states: provider state name -> input builder.
        params: ``ctx.params`` from the pipeline file.
        dependencies: declared dependencies from the pipeline file.
        states_ref: where the states came from (for messages).
        pipeline: the pipeline file.
    """

    agent: Agent
    registry: SchemaRegistry
    states: dict[str, StateFn]
    params: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, Dependency] = field(default_factory=dict)
    states_ref: str = ""
    pipeline: Path | None = None
    #: a black-box provider: (pipeline spec, RabbitMQ URL); its messages come from the running
    #: service (harness.blackbox.driver), not from an in-process handler
    black_box: Any = None


def default_pipeline() -> Path:
    """The payments example's pipeline file (beside the bundled ``contracts/``)."""
    return default_registry_path().parent / "examples" / "payments" / "pipeline.yaml"


def find_pipeline(folder: str | Path | None = None) -> Path:
    """``pipeline.yaml`` in ``folder`` (default: the working folder).

    Raises:
        InputError: there is none (give ``--pipeline FILE``).
    """
    path = Path(folder or Path.cwd()) / "pipeline.yaml"
    if not path.is_file():
        raise InputError(f"needs a pipeline: give --pipeline FILE (no pipeline.yaml in "
                         f"{path.parent})", where="--pipeline")
    return path.resolve()


def overlay_registry(root: str | Path, overlay: str | Path | None = None) -> SchemaRegistry:
    """The registry at ``root`` plus the schema versions found in ``overlay``.

    Raises:
        InputError: the overlay folder is missing or redefines an existing version.
    """
    registry = SchemaRegistry(root)
    if overlay is None:
        return registry
    extra = SchemaRegistry(overlay)
    for subject in extra:
        base = registry.subjects.get(subject.name)
        if base is None:
            registry.subjects[subject.name] = subject
            continue
        for version, sv in subject.versions.items():
            if version in base.versions:
                raise InputError(f"overlay redefines {subject.name} v{version}", where=str(sv.path))
            base.versions[version] = sv
    return registry


def _incident(path: Path) -> tuple[Path, dict[str, str], Path | None]:
    raw = load_yaml_with_lines(path)
    if not isinstance(raw, dict) or "pipeline" not in raw:
        raise PipelineError("an incident file needs 'pipeline' (and 'variants')", where=str(path))
    check_document(raw, "incident", path)
    pipeline = (path.parent / str(raw["pipeline"])).resolve()
    if not pipeline.is_file():
        raise PipelineError(f"no such pipeline file {pipeline}", where=f"{path}: pipeline")
    variants = raw.get("variants") or {}
    overrides = {str(k): str(v) for k, v in variants.items() if not is_meta(k)}
    overlay = raw.get("registry_overlay")
    return pipeline, overrides, (path.parent / str(overlay)).resolve() if overlay else None


def _variant(pipeline: Path, name: str) -> tuple[dict[str, str], Path | None]:
    raw = load_yaml_with_lines(pipeline)
    variants = (raw or {}).get("variants") or {}
    node = variants.get(name) if isinstance(variants, dict) else None
    if not isinstance(node, dict):
        known = ", ".join(k for k in variants if not is_meta(k)) if isinstance(
            variants, dict) else ""
        raise PipelineError(f"no variant {name!r} (known: {known or 'none'})",
                            where=f"{pipeline}: variants")
    overlay = node.get("registry_overlay")
    overrides = {str(k): str(v) for k, v in node.items()
                 if not is_meta(k) and k != "registry_overlay"}
    return overrides, (pipeline.parent / str(overlay)).resolve() if overlay else None


def _overlay_of_handler(pipeline: Path, agent: str, ref: str) -> Path | None:
    """The registry overlay of a pipeline variant that uses handler ``ref`` for ``agent``
    (so ``--agent agents.py:fraud_v2`` brings the schema its variant declares)."""
    raw = load_yaml_with_lines(pipeline)
    variants = (raw or {}).get("variants") if isinstance(raw, dict) else None
    if not isinstance(variants, dict):
        return None
    file_part, _, attr = ref.rpartition(":")
    for name, node in variants.items():
        if is_meta(name) or not isinstance(node, dict) or agent not in node:
            continue
        v_file, _, v_attr = str(node[agent]).rpartition(":")
        same = v_attr == attr and (pipeline.parent / v_file).resolve() == Path(file_part).resolve()
        if same and node.get("registry_overlay"):
            return (pipeline.parent / str(node["registry_overlay"])).resolve()
    return None


def resolve_target(provider: str, *, pipeline: str | Path | None = None,
                   agent_ref: str | None = None, variant: str | None = None,
                   incident: str | Path | None = None, registry_overlay: str | Path | None = None,
                   states_ref: str | None = None, amqp_url: str | None = None) -> ProviderTarget:
    """Load the provider agent and everything its verification needs.

    Raises:
        InputError: unknown provider (listing the known ones), a broken file, a missing state
            module, or an agent that emits a schema version the registry does not hold.
    """
    overrides: dict[str, str] = {}
    overlay = Path(registry_overlay).resolve() if registry_overlay else None
    if incident is not None:
        pipeline, overrides, incident_overlay = _incident(Path(incident).resolve())
        overlay = overlay or incident_overlay
    pipeline_path = Path(pipeline).resolve() if pipeline else find_pipeline()
    if not pipeline_path.is_file():
        raise InputError("no such pipeline file", where=str(pipeline_path))
    if variant is not None:
        more, variant_overlay = _variant(pipeline_path, variant)
        overrides.update(more)
        overlay = overlay or variant_overlay
    if agent_ref is not None:
        file_part, _, attr = agent_ref.rpartition(":")
        if file_part.endswith(".py") and not Path(file_part).is_absolute():
            agent_ref = f"{Path(file_part).resolve()}:{attr}"
        overrides[provider] = agent_ref
        overlay = overlay or _overlay_of_handler(pipeline_path, provider, agent_ref)
    probe = load_yaml_with_lines(pipeline_path)
    names = [k for k in ((probe or {}).get("agents") or {}) if not is_meta(k)] if isinstance(
        probe, dict) else []
    if provider not in names:
        raise InputError(f"unknown provider {provider!r} (agents in the pipeline: "
                         f"{', '.join(names) or 'none'})", where=str(pipeline_path))
    spec = load_pipeline(pipeline_path, overrides=overrides)
    agent_spec = spec.agents[provider]
    black_box = None
    if agent_spec.agent is None:  # a black box: verified through its queue on RabbitMQ
        from harness.blackbox.driver import DEFAULT_BROKER, agent_of

        agent = agent_of(agent_spec)
        black_box = (spec, amqp_url or DEFAULT_BROKER)
    else:
        agent = agent_spec.agent
    registry = overlay_registry(spec.registry_path, overlay)
    for ref in agent.emits:
        if (ref.type, ref.version) not in registry:
            raise InputError(f"{provider} ({agent_spec.handler_ref}) emits {ref}, which is not in "
                             f"the registry at {spec.registry_path} (give its schema with "
                             "--registry-overlay DIR, or use --incident/--variant)",
                             where=str(pipeline_path))
    states_at = states_ref or "provider_states.py:states"
    where = f"{pipeline_path.parent / states_at.split(':')[0]}"
    states = load_object(states_at, base=pipeline_path.parent, where=where)
    if not isinstance(states, ProviderStates):
        raise InputError(f"{states_at} is a {type(states).__name__}, not ProviderStates",
                         where=where)
    return ProviderTarget(agent=agent, registry=registry,
                          states=states.for_agent(provider), params=agent_spec.params,
                          dependencies=agent_spec.dependencies, states_ref=where,
                          pipeline=pipeline_path, black_box=black_box)
