"""A black-box agent's settings in the pipeline file (``command:`` or ``external:`` agents).

```yaml
ledger:
  command: [node, node/ledger.js]       # started and supervised by the harness
  consumes: [payment.authorized@1]
  emits: [ledger.posted@1]
  database: postgres                     # a PostgreSQL schema of its own for the run
  env: {LEDGER_MODE: strict}             # extra environment ({queue}, {exchange}... expanded)
  start_timeout_s: 30                    # seconds to start consuming its queue
  probes:
    effects: {sql: "SELECT key, correlation_id, 'ledger.post' AS effect FROM effects"}
    ledger: {sql: "SELECT account, debit, credit FROM postings"}
billing:
  external: {exchange: billing.out}      # already running: the harness owns only its queues
  queue: billing.in
```

A probe is one of ``sql`` (run against the agent's database schema), ``url`` (HTTP GET
returning a JSON list of rows) or ``redis`` (a key pattern; each key a row, its value JSON).
``effects`` rows carry ``key``, ``correlation_id`` and ``effect``; ``ledger`` rows carry
``account``, ``debit`` and ``credit`` (integers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import PipelineError

__all__ = ["PROBE_KINDS", "BlackBoxSettings", "ProbeSpec", "black_box_settings", "outcome_of",
           "terminal_outcomes"]

PROBE_KINDS = ("effects", "ledger")
_SOURCES = ("sql", "url", "redis")


@dataclass(frozen=True)
class ProbeSpec:
    """How to read one kind of effect rows from outside a black box."""

    kind: str  # effects | ledger
    source: str  # sql | url | redis
    target: str  # the query, URL or key pattern
    where: str = ""


@dataclass
class BlackBoxSettings:
    """Everything the harness needs to run or reach a black-box agent."""

    external: bool = False
    exchange: str | None = None  # external agents: their fixed exchange
    database: bool = False
    env: dict[str, str] = field(default_factory=dict)
    probes: list[ProbeSpec] = field(default_factory=list)
    start_timeout: float = 30.0


def black_box_settings(name: str, node: dict[str, Any], path: Path,
                       where: Callable[[Path, Any, str], str]) -> BlackBoxSettings:
    """Parse the black-box keys of agent ``name``; errors name file, line and field."""
    ctx = f"agents.{name}."
    out = BlackBoxSettings()
    ext = node.get("external")
    if "external" in node:
        out.external = True
        if ext is True or ext is None:
            pass
        elif isinstance(ext, dict):
            exchange = ext.get("exchange")
            if exchange is not None and not (isinstance(exchange, str) and exchange):
                raise PipelineError("must be an exchange name",
                                    where=where(path, ext, ctx + "external.exchange"))
            out.exchange = exchange
        else:
            raise PipelineError("must be true or a mapping like {exchange: NAME}",
                                where=where(path, node, ctx + "external"))
    db = node.get("database")
    if db is not None:
        if db not in ("postgres", "postgresql", False):
            raise PipelineError(f"must be 'postgres', got {db!r}",
                                where=where(path, node, ctx + "database"))
        out.database = bool(db)
    env = node.get("env") or {}
    if not isinstance(env, dict):
        raise PipelineError("must map variable names to strings", where=where(path, node,
                                                                           ctx + "env"))
    out.env = {str(k): (str(v).lower() if isinstance(v, bool) else str(v))
               for k, v in env.items() if not str(k).startswith("__")}
    timeout = node.get("start_timeout_s", 30)
    out.start_timeout = float(timeout) if isinstance(timeout, (int, float)) else 30.0
    probes = node.get("probes") or {}
    if not isinstance(probes, dict):
        raise PipelineError("must map effects/ledger to {sql|url|redis: ...}",
                            where=where(path, node, ctx + "probes"))
    for kind, probe in probes.items():
        if str(kind).startswith("__"):
            continue
        here = where(path, probes, f"{ctx}probes.{kind}")
        if kind not in PROBE_KINDS:
            raise PipelineError(f"unknown probe {kind!r} (known: {', '.join(PROBE_KINDS)})",
                                where=here)
        keys = [k for k in (probe or {}) if k in _SOURCES] if isinstance(probe, dict) else []
        if len(keys) != 1 or not isinstance(probe[keys[0]], str) or not probe[keys[0]]:
            raise PipelineError("needs exactly one of sql, url or redis (a string)", where=here)
        if keys[0] == "sql" and not out.database:
            raise PipelineError("an sql probe needs 'database: postgres' on the agent",
                                where=here)
        out.probes.append(ProbeSpec(str(kind), keys[0], probe[keys[0]], here))
    return out


def terminal_outcomes(raw: dict[str, Any], path: Path,
                      where: Callable[[Path, Any, str], str]) -> dict[str, Any]:
    """``outcomes:``: message types that end their correlation when a black box publishes them
    (for pipelines without an SDK agent to record outcomes)::

        outcomes:
          payment.settled: completed                      # always this outcome
          notification.sent: {field: kind, values: {receipt: completed, decline: declined}}
    """
    from harness.agents.context import OUTCOMES

    node = raw.get("outcomes") or {}
    if not isinstance(node, dict):
        raise PipelineError("must map message types to an outcome or {field, values}",
                            where=where(path, raw, "outcomes"))
    out: dict[str, Any] = {}
    for mtype, rule in node.items():
        if str(mtype).startswith("__"):
            continue
        here = where(path, node, f"outcomes.{mtype}")
        if isinstance(rule, str):
            values = [rule]
        elif isinstance(rule, dict) and isinstance(rule.get("field"), str) and isinstance(
                rule.get("values"), dict):
            values = [v for k, v in rule["values"].items() if not str(k).startswith("__")]
            rule = {"field": rule["field"],
                    "values": {str(k): v for k, v in rule["values"].items()
                               if not str(k).startswith("__")}}
        else:
            raise PipelineError("must be an outcome or {field: NAME, values: {VALUE: outcome}}",
                                where=here)
        bad = [v for v in values if v not in OUTCOMES]
        if bad:
            raise PipelineError(f"outcome must be one of {', '.join(OUTCOMES)}, got {bad[0]!r}",
                                where=here)
        out[str(mtype)] = rule
    return out


def outcome_of(rule: Any, payload: Any) -> str | None:
    """The outcome a published message of an ``outcomes:`` type means (None: none)."""
    if isinstance(rule, str):
        return rule
    value = payload.get(rule["field"]) if isinstance(payload, dict) else None
    return rule["values"].get(str(value)) if value is not None else None
