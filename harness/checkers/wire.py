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
from binascii import a2b_base64
from collections.abc import Mapping
from typing import Any

import orjson
import pybase64

from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of
from harness.contracts.compiled import compiled
from harness.history import unb64

Event = dict[str, Any]

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


class Judge(stream.Judge):
    """Every message on every hop validates against its declared schema version (module
    docstring). Bodies are validated as the pass meets them (validators compiled once per
    (type, version)); only dead letters and their producers are kept."""

    kinds = frozenset({"publish", "dead_letter"})
    rare = stream.RARE  # reads the dead letters before the pass (Facts)
    cost = 1.4

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # publishes and dead letters: independent
        publishes = by_kind.get("publish")
        if publishes:
            self._publishes(publishes)
        self.feed(by_kind.get("dead_letter") or [])

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.ex = Examples(limit_of(opts))
        _, self.faulted_mids, self.faulted_bodies = facts.fault_targets()
        self.wanted: set[Any] = set()  # message ids whose producer a dead letter asks about
        for e in facts.dead_letters:
            mid = e.get("message_id")
            if mid and e.get("reason") in CONTRACT_REASONS:
                try:
                    self.wanted.add(mid)
                except TypeError:
                    pass
        self.producers: dict[str, str] = {}
        self.dead: list[dict[str, Any]] = []
        self.bodies = 0
        self.registry: Any = None
        self.resolved = False
        self.validators: dict[tuple[str, Any], Any] = {}

    def feed(self, events: list[Event]) -> None:
        for e in events:
            kind = e.get("kind")
            if kind == "publish":
                self._publishes([e])
            elif kind == "dead_letter":
                self.dead.append(e)

    def _publishes(self, events: list[Event]) -> None:
        """:meth:`feed` for publish events only: a body that decodes (strict base64), parses
        and validates passes here; anything else is judged by :func:`_body_problem`."""
        producers, wanted, ex, validators = self.producers, self.wanted, self.ex, self.validators
        decode, loads, decode_error = pybase64.b64decode, orjson.loads, orjson.JSONDecodeError
        for e in events:
            mid = e.get("message_id")
            producer = e.get("producer")
            if mid and producer and mid in wanted and mid not in producers:
                producers[mid] = producer
            body = e.get("body")
            if not body or producer in (None, "workload"):
                continue
            self.bodies += 1
            if not self.resolved:
                self.registry = _registry(self.facts.head, self.opts)
                self.resolved = True
            if type(body) is str and self.registry is not None:
                try:  # the usual case, without a call per step
                    data = decode(body, validate=True)
                    if data.count(b"{") + data.count(b"[") <= 200:
                        raw = loads(data)
                        validator = validators.get((raw["type"], raw["schema_version"]))
                        if validator and validator.is_valid(raw["payload"]):
                            continue
                except (ValueError, TypeError, KeyError, decode_error):
                    pass
            problem = _body_problem(e, self.registry, validators)
            if problem is not None:
                ex.add(*problem)

    def verdict(self, info: stream.Info) -> Verdict:
        ex, registry, producers = self.ex, self.registry, self.producers
        for e in self.dead:
            reason = e.get("reason")
            where = {"correlation_id": e.get("correlation_id"),
                     "message_id": e.get("message_id"), "agent": e.get("agent"),
                     "queue": e.get("queue"), "reason": reason,
                     "detail": str(e.get("detail", ""))[:300]}
            if reason == "emitted_invalid":
                ex.add("emitted_invalid", where)
            elif reason in CONTRACT_REASONS:
                mid = e.get("message_id")
                producer = producers.get(mid) if mid else None
                if producer in (None, "workload") or mid in self.faulted_mids:
                    continue
                if e.get("body") in self.faulted_bodies:
                    continue
                ex.add("rejected_by_consumer", {**where, "producer": producer})
        checked = self.bodies if registry is not None else 0
        counts: dict[str, Any] = {"bodies": self.bodies, "bodies_checked": checked,
                                  "dead_letters_checked": len(self.dead)}
        counts.update({p: ex.n(p) for p in PROBLEMS})
        if ex:
            return Verdict(False, counts, ex.items)
        if self.bodies and registry is None:
            return Verdict(UNKNOWN, counts, ex.items,
                           "no schema registry to check bodies against")
        return Verdict(True, counts, ex.items)


check = stream.judged(Judge)


def _body_problem(e: dict[str, Any], registry: Any,
                  validators: dict[tuple[str, Any], Any]) -> tuple[str, dict[str, Any]] | None:
    try:
        raw = _loads(_unb64(e["body"]))
        mtype, version, payload = raw["type"], raw["schema_version"], raw["payload"]
    except Exception as exc:  # bytes an agent published that are not an envelope
        return "malformed", {**_where(e), "detail": f"{type(exc).__name__}: {exc}"[:200]}
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
        return "undeclared_version", {**_where(e), "type": mtype, "schema_version": version}
    if validator.is_valid(payload):
        return None
    try:
        registry.validate(mtype, version, payload)  # to name the failing field
    except Exception as exc:
        return "schema_invalid", {**_where(e), "type": mtype, "schema_version": version,
                                  "detail": str(getattr(exc, "detail", exc))[:300]}
    return None


def _unb64(text: Any) -> bytes:
    """:func:`harness.history.unb64`, without its wrapping for a str (the same bytes; anything
    else, or a failure, goes through unb64 itself: the same error)."""
    if type(text) is str:
        try:
            return a2b_base64(text)
        except Exception:
            pass
    return unb64(text)


def _where(e: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": e.get("message_id"), "producer": e.get("producer"),
            "correlation_id": e.get("correlation_id"), "queue": e.get("queue")}


def _loads(data: bytes) -> Any:
    """orjson, and the standard library for what orjson refuses (same result, same message),
    and for bytes with over 200 brackets (orjson 3.8 crashes the process on ~100,000 nested
    objects; the standard library raises RecursionError: a malformed body)."""
    if data.count(b"{") + data.count(b"[") > 200:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
