"""A failing run written down: its inputs, its faults pinned to their messages, and the failure.

:func:`case_from_run` turns a stored chaos run (``results.json`` + ``history.jsonl``) into a
:class:`Case`: the inputs the run sent, every per-message fault that fired pinned to its message
(``message`` + ``correlation``, with the parameters it fired with), every window fault with the
window it had, and the failure to keep: one checker and one kind of violation
(``exactly_once`` / ``duplicate_effect``). :func:`case_experiment` makes an experiment of a case;
:func:`write_case` writes it as a YAML experiment file with its inputs inline.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.chaos.experiment import Experiment, Probe, load_experiment
from harness.chaos.inputs import item_to_dict
from harness.chaos.schedule import PINNABLE_FAULTS, WINDOW_FAULTS, FaultSpec
from harness.errors import InputError
from harness.history import Event
from harness.workload import WorkItem

__all__ = ["Case", "Failure", "case_experiment", "case_from_run", "failure_of", "write_case"]


@dataclass(frozen=True)
class Failure:
    """What a shrunk case must keep doing: ``checker`` invalid with a ``kind`` of violation."""

    checker: str
    kind: str

    def seen_in(self, verdicts: dict[str, Any]) -> bool:
        v = verdicts.get(self.checker)
        if v is None:
            return False
        valid = v.valid if hasattr(v, "valid") else v.get("valid")
        examples = v.examples if hasattr(v, "examples") else v.get("examples") or {}
        counts = v.counts if hasattr(v, "counts") else v.get("counts") or {}
        return valid is False and (bool(examples.get(self.kind)) or bool(counts.get(self.kind)))


@dataclass
class Case:
    """Inputs and faults of a run (faults pinned to messages, or windows)."""

    inputs: list[WorkItem]
    faults: list[FaultSpec] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return (tuple(i.correlation_id for i in self.inputs),
                tuple(_fault_key(f) for f in self.faults))

    def with_inputs(self, inputs: list[WorkItem]) -> Case:
        """These inputs, and only the faults pinned to them (or not pinned at all)."""
        cids = {i.correlation_id for i in inputs}
        return Case(inputs, [f for f in self.faults
                             if f.correlation is None or f.correlation in cids])


def _fault_key(f: FaultSpec) -> tuple[Any, ...]:
    return (f.fault, f.target, f.message, f.correlation, f.hop, str(f.at), str(f.duration),
            tuple(sorted((k, str(v)) for k, v in f.params.items())))


def failure_of(verdicts: dict[str, Any], *, checker: str | None = None,
               prefer: list[str] | None = None) -> Failure | None:
    """The failure to keep: the named checker (or the first invalid one, the expected ones
    first) and its first kind of violation."""
    names = [checker] if checker else [*(prefer or []), *verdicts]
    for name in names:
        v = verdicts.get(name)
        if v is None or v.get("valid") is not False:
            continue
        kinds = [k for k, ex in (v.get("examples") or {}).items() if ex]
        kinds += [k for k, n in (v.get("counts") or {}).items()
                  if isinstance(n, int) and n and k not in kinds and k in (v.get("examples") or {})]
        if kinds:
            return Failure(name, kinds[0])
    return None


def _agent_of_queue(queue: str, agents: dict[str, str]) -> str:
    for agent, q in agents.items():
        if queue == q or queue.endswith("." + q):
            return agent
    return "*"


def faults_from_history(events: list[Event], plan: list[dict[str, Any]],
                        queues: dict[str, str]) -> list[FaultSpec]:
    """Every per-message fault that fired, pinned to its message; every window as it was."""
    out: list[FaultSpec] = []
    seen: set[tuple[str, str, str]] = set()
    for e in events:
        if e.get("kind") != "fault_start" or e.get("fault") not in PINNABLE_FAULTS:
            continue
        mid, cid = e.get("message_id"), e.get("correlation_id")
        if not mid:
            continue
        target = e.get("agent") or _agent_of_queue(str(e.get("target", "")), queues)
        key = (str(e.get("fault_id", e["fault"])), mid, target)
        if key in seen:
            continue
        seen.add(key)
        params = dict(e.get("params") or {})
        if e["fault"] == "duplicate" and e.get("copies"):
            params["copies"] = e["copies"]
        if e["fault"] == "drop" and e.get("mode"):
            params["mode"] = e["mode"]
        out.append(FaultSpec(e["fault"], target, message=mid, correlation=cid, params=params))
    for p in plan:
        if p.get("fault") in WINDOW_FAULTS:
            start = float(p.get("start") or 0.0)
            end = p.get("end")
            out.append(FaultSpec(p["fault"], p.get("target", "*"), at=start,
                                 duration=None if end is None else round(end - start, 4),
                                 params=dict(p.get("params") or {})))
    return out


def case_from_run(run_dir: str | Path, *, checker: str | None = None
                  ) -> tuple[Experiment, int, Case, Failure]:
    """The experiment, seed, case and failure of a stored failing run.

    Raises:
        InputError: not a chaos run folder, or a run with nothing failing.
    """
    from harness.chaos.analyze import load_results
    from harness.chaos.runner import make_workload
    from harness.history import read_history
    from harness.pipeline import load_pipeline

    run_dir = Path(run_dir)
    results = load_results(run_dir)
    exp = load_experiment(results["experiment"]["path"])
    seed = int(results["seed"])
    failure = failure_of(results.get("verdicts") or {}, checker=checker,
                         prefer=list(exp.caught_by))
    if failure is None:
        what = f"checker {checker!r} is not invalid" if checker else "no checker is invalid"
        raise InputError(f"nothing to shrink: {what} in this run", where=str(run_dir))
    spec = load_pipeline(exp.pipeline, overrides=exp.variants or None)
    events = read_history(run_dir / "history.jsonl").events
    sent = [e["correlation_id"] for e in events if e.get("kind") == "ingress"]
    items = make_workload(exp, spec, seed, "")
    by_cid = {i.correlation_id: i for i in items}
    if sent and not all(c in by_cid for c in sent):
        raise InputError("the run's inputs cannot be made again from its experiment (a run "
                         "on a shared broker tags them): import it with harness incident "
                         "from-history instead", where=str(run_dir))
    inputs = [by_cid[c] for c in dict.fromkeys(sent)] if sent else items
    queues = {name: a.queue for name, a in spec.agents.items()}
    faults = faults_from_history(events, results.get("plan") or [], queues)
    return exp, seed, Case(inputs, faults), failure


def case_experiment(exp: Experiment, case: Case, failure: Failure | None = None) -> Experiment:
    """The experiment that runs exactly this case (only the failure's checker, when given)."""
    probes = exp.probes
    if failure is not None:
        probes = [p for p in exp.probes if p.checker == failure.checker] or [
            Probe(failure.checker)]
    return dataclasses.replace(exp, inputs=list(case.inputs), count=len(case.inputs),
                               faults=list(case.faults), probes=probes)


def _fault_doc(f: FaultSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"fault": f.fault, "target": f.target}
    for key in ("message", "correlation", "hop"):
        if getattr(f, key) is not None:
            doc[key] = getattr(f, key)
    if f.at not in (0, 0.0):
        doc["at"] = list(f.at) if isinstance(f.at, tuple) else f.at
    if f.duration is not None:
        doc["duration"] = list(f.duration) if isinstance(f.duration, tuple) else f.duration
    if f.probability != 1.0:
        doc["probability"] = f.probability
    if f.params:
        doc["params"] = dict(f.params)
    return doc


def write_case(exp: Experiment, seed: int, case: Case, failure: Failure, path: Path, *,
               title: str, description: str = "") -> Path:
    """Write the case as an experiment file (inputs inline, faults pinned, simulated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "title": title,
        "description": description,
        "pipeline": os.path.relpath(exp.pipeline, path.parent),
    }
    if exp.variants:
        doc["variants"] = dict(exp.variants)
    doc.update({
        "seed": seed,
        "simulate": True,
        "workload": {"rate": exp.rate,
                     "inputs": [item_to_dict(i) for i in case.inputs]},
        "steady-state-hypothesis": {"probes": [failure.checker]},
        "method": [_fault_doc(f) for f in case.faults],
        "expect": {"valid": False, "caught_by": [failure.checker]},
        "settle_timeout": exp.settle_timeout,
    })
    if not description:
        del doc["description"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
                    encoding="utf-8")
    return path
