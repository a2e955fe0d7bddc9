"""Checker ``wire``: every message on every hop validates against the schema version it declares.

Two sources of evidence:

1. bodies: ``publish`` events that carry the bytes an agent put on the wire (``body``, base64;
   recorded by the chaos run's wire tap) are parsed and their payload validated against the
   registry's (type, version). Problems: ``malformed`` (not an envelope), ``undeclared_version``
   (no such schema), ``schema_invalid``.
2. dead letters: ``emitted_invalid`` (an agent tried to emit a message breaking its contract; the
   runtime stopped it) and consumer rejections (``schema_invalid``, ``unknown_version``,
   ``unexpected_type``, envelope errors) of a message an agent published: ``rejected_by_consumer``.
   Workload inputs (meant to be invalid sometimes) and messages a fault altered are excused.

Options: ``registry``: a SchemaRegistry or a registry folder (default: the ``registry`` recorded
in ``run_start``). Without a registry, bodies cannot be checked and the verdict is at best unknown.

Counts: bodies_checked, dead_letters_checked, and one per problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from harness.contracts.compiled import compiled
from harness.history import unb64
from tests.checkers.reference.base import UNKNOWN, Examples, Verdict, as_events, limit_of
from tests.checkers.reference.facts import fault_targets

__all__ = ["check"]

#: reasons a consumer gives when a message breaks its contract
CONTRACT_REASONS = frozenset({
    "schema_invalid", "unknown_version", "unexpected_type", "unknown_type", "not_json",
    "not_utf8", "not_envelope", "missing_field", "bad_field", "duplicate_key", "too_large",
    "malformed",
})
PROBLEMS = ("malformed", "undeclared_version", "schema_invalid", "emitted_invalid",
            "rejected_by_consumer")


def _registry(events: list[dict[str, Any]], opts: Mapping[str, Any]) -> Any:
    reg = opts.get("registry")
    if reg is None:
        for e in events[:5]:
            if e.get("kind") == "run_start" and e.get("registry"):
                reg = e["registry"]
                break
    if reg is None or hasattr(reg, "validate"):
        return reg
    from harness.contracts.registry import SchemaRegistry

    return SchemaRegistry(reg)


def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
    events = as_events(history)
    ex = Examples(limit_of(opts))
    _, faulted_mids, faulted_bodies = fault_targets(events)
    producers: dict[str, str] = {}
    to_check: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    for e in events:
        kind = e.get("kind")
        if kind == "publish":
            if e.get("message_id") and e.get("producer"):
                producers.setdefault(e["message_id"], e["producer"])
            if e.get("body") and e.get("producer") not in (None, "workload"):
                to_check.append(e)
        elif kind == "dead_letter":
            dead.append(e)
    registry = _registry(events, opts) if to_check else None
    checked = 0
    if registry is None:
        for e in to_check:  # without a registry only "is it an envelope at all" is decidable
            problem = _body_problem(e, None, {})
            if problem is not None:
                ex.add(*problem)
    else:
        workers = _workers(len(to_check), opts)
        problems = (_parallel(to_check, registry, workers) if workers > 1
                    else _bodies(to_check, registry))
        checked = len(to_check)
        for problem in problems:
            ex.add(*problem)
    for e in dead:
        reason = e.get("reason")
        where = {"correlation_id": e.get("correlation_id"), "message_id": e.get("message_id"),
                 "agent": e.get("agent"), "queue": e.get("queue"), "reason": reason,
                 "detail": str(e.get("detail", ""))[:300]}
        if reason == "emitted_invalid":
            ex.add("emitted_invalid", where)
        elif reason in CONTRACT_REASONS:
            mid = e.get("message_id")
            producer = producers.get(mid) if mid else None
            if producer in (None, "workload") or mid in faulted_mids:
                continue
            if e.get("body") in faulted_bodies:
                continue
            ex.add("rejected_by_consumer", {**where, "producer": producer})
    counts: dict[str, Any] = {"bodies": len(to_check), "bodies_checked": checked,
                              "dead_letters_checked": len(dead)}
    counts.update({p: ex.n(p) for p in PROBLEMS})
    if ex:
        return Verdict(False, counts, ex.items)
    if to_check and registry is None:
        return Verdict(UNKNOWN, counts, ex.items, "no schema registry to check bodies against")
    return Verdict(True, counts, ex.items)


def _body_problem(e: dict[str, Any], registry: Any,
                  validators: dict[tuple[str, Any], Any]) -> tuple[str, dict[str, Any]] | None:
    where = {"message_id": e.get("message_id"), "producer": e.get("producer"),
             "correlation_id": e.get("correlation_id"), "queue": e.get("queue")}
    try:
        raw = _loads(unb64(e["body"]))
        mtype, version, payload = raw["type"], raw["schema_version"], raw["payload"]
    except Exception as exc:  # bytes an agent published that are not an envelope
        return "malformed", {**where, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    if registry is None:
        return None
    key = (mtype, version)
    validator = validators.get(key)
    if validator is None:
        if key not in registry:
            validators[key] = False
        else:
            validators[key] = compiled(registry, mtype, version) or \
                registry.validator(mtype, version)
        validator = validators[key]
    if validator is False:
        return "undeclared_version", {**where, "type": mtype, "schema_version": version}
    if validator.is_valid(payload):
        return None
    try:
        registry.validate(mtype, version, payload)  # to name the failing field
    except Exception as exc:
        return "schema_invalid", {**where, "type": mtype, "schema_version": version,
                                  "detail": str(getattr(exc, "detail", exc))[:300]}
    return None


def _loads(data: bytes) -> Any:
    """orjson, and the standard library for what orjson refuses (same result, same message)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _bodies(items: list[dict[str, Any]], registry: Any) -> list[tuple[str, dict[str, Any]]]:
    validators: dict[tuple[str, Any], Any] = {}
    out = []
    for e in items:
        problem = _body_problem(e, registry, validators)
        if problem is not None:
            out.append(problem)
    return out


def _workers(n: int, opts: Mapping[str, Any]) -> int:
    """Processes for body validation: 1 below ``parallel_threshold`` bodies (default 50,000)."""
    if n < int(opts.get("parallel_threshold", 50_000)):
        return 1
    import multiprocessing
    import os

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(int(opts.get("workers", os.cpu_count() or 1)), 8))


_SHARED: tuple[list[dict[str, Any]], Any] | None = None


def _chunk(bounds: tuple[int, int]) -> list[tuple[str, dict[str, Any]]]:
    assert _SHARED is not None
    items, registry = _SHARED
    return _bodies(items[bounds[0]:bounds[1]], registry)


def _parallel(items: list[dict[str, Any]], registry: Any,
              workers: int) -> list[tuple[str, dict[str, Any]]]:
    """Validate bodies in forked workers (they inherit the items; only problems come back).
    Still pure: same input, same output, in the same order."""
    import multiprocessing

    global _SHARED
    _SHARED = (items, registry)
    try:
        size = -(-len(items) // (workers * 4))
        bounds = [(i, min(i + size, len(items))) for i in range(0, len(items), size)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_chunk, bounds)
    finally:
        _SHARED = None
    return [p for part in parts for p in part]
