"""User-defined invariants: a Python function over the history, or a declarative rule.

An experiment names them among its probes; they run, report and count like the built-in
checkers (tri-state verdict, counts, examples, a JUnit case, an HTML section)::

    probes:
      - checker: invariants.py:no_high_risk_approved     # FILE.py:function (beside the file)
      - name: no_high_risk_authorized
        never: {type: payment.authorized, where: {risk_level: high}}
      - name: receipt_only_after_posting
        requires: {type: notification.sent, where: {kind: receipt}, after: ledger.posted}

A **function** gets ``(events, snapshot)``: the history's events (a list of dicts, read-only)
and the end-of-run store snapshot (``{ledger, effects}``, None when the run recorded none). It
returns a :class:`~harness.checkers.base.Verdict`, ``True``/``False``/``"unknown"``, or a list
of problems (each a dict shown as an example; empty = valid). Anything else, or an exception,
gives unknown.

A **rule** reads the messages agents and the workload published (the envelopes' bytes the
chaos transport recorded; one per message id):

- ``never: {type, where}``: no message of ``type`` whose payload matches ``where``;
- ``requires: {type, where, after, by}``: every matching message of ``type`` comes after a
  message ``after`` (a type, or ``{type, where}``) of the same correlation (``by:
  correlation``, the default) or with the same payload field (``by: payment_id``);
- ``requires: {type, where, caused_by}``: every matching message has such a message among its
  causes (its causation chain back to the ingress input). Stricter than ``after``, which
  judges history order: a receipt sent on the authorization, racing the ledger's posting, comes
  after it in many runs but is never caused by it.

``where`` maps payload fields (dotted paths into nested objects) to a value, a list of values
(any of), or one comparison ``{eq|ne|in|gt|gte|lt|lte|exists|matches|not_matches: ...}``
(``matches``: the whole string matches a regular expression). A history without
message bytes cannot be judged: unknown.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.checkers.base import UNKNOWN, Check, Examples, Verdict, limit_of
from harness.errors import PipelineError

__all__ = ["OPS", "function_check", "parse_rule", "rule_check", "user_check"]

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, x: v == x, "ne": lambda v, x: v != x,
    "in": lambda v, x: v in x, "gt": lambda v, x: _num(v) and v > x,
    "gte": lambda v, x: _num(v) and v >= x, "lt": lambda v, x: _num(v) and v < x,
    "lte": lambda v, x: _num(v) and v <= x, "exists": lambda v, x: (v is not _MISSING) == x,
    "matches": lambda v, x: isinstance(v, str) and re.fullmatch(x, v) is not None,
    "not_matches": lambda v, x: not (isinstance(v, str) and re.fullmatch(x, v) is not None),
}
_MISSING: Any = object()
_RULE_KEYS = {"never": {"type", "where"},
              "requires": {"type", "where", "after", "by", "caused_by"}}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_rule(node: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Check a rule's shape (one clear PipelineError naming ``where``); returns it cleaned."""
    kinds = [k for k in _RULE_KEYS if k in node]
    if len(kinds) != 1:
        raise PipelineError("a rule is either never: {...} or requires: {...}", where=where)
    kind = kinds[0]
    body = node[kind]
    if not isinstance(body, Mapping) or not isinstance(body.get("type"), str):
        raise PipelineError(f"{kind} must be a mapping with type: MESSAGE_TYPE",
                            where=f"{where}.{kind}")
    extra = sorted(k for k in body if k not in _RULE_KEYS[kind] and not str(k).startswith("__"))
    if extra:
        raise PipelineError(f"unknown field {extra[0]!r} (known: "
                            f"{', '.join(sorted(_RULE_KEYS[kind]))})", where=f"{where}.{kind}")
    rule = {"kind": kind, "type": body["type"], "where": _where(body.get("where"),
                                                                 f"{where}.{kind}.where")}
    if kind == "requires":
        which = [k for k in ("after", "caused_by") if body.get(k) is not None]
        if len(which) != 1:
            raise PipelineError("requires needs one of after: or caused_by: (a message type or "
                                "{type, where})", where=f"{where}.requires")
        rule[which[0]] = _message_spec(body[which[0]], f"{where}.requires.{which[0]}")
        rule["by"] = str(body.get("by") or "correlation")
    return rule


def _message_spec(node: Any, where: str) -> dict[str, Any]:
    if isinstance(node, str):
        node = {"type": node}
    if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
        raise PipelineError("must be a message type or {type, where}", where=where)
    return {"type": node["type"], "where": _where(node.get("where"), f"{where}.where")}


def _where(node: Any, where: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise PipelineError("must map payload fields to values or {op: value}", where=where)
    out: dict[str, Any] = {}
    for field, cond in node.items():
        if str(field).startswith("__"):
            continue
        if isinstance(cond, Mapping):
            ops = [k for k in cond if not str(k).startswith("__")]
            if len(ops) != 1 or ops[0] not in OPS:
                raise PipelineError(f"one comparison of {', '.join(OPS)}",
                                    where=f"{where}.{field}")
            cond = {ops[0]: cond[ops[0]]}
        out[str(field)] = cond
    return out


def _get(payload: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(payload, Mapping) or part not in payload:
            return _MISSING
        payload = payload[part]
    return payload


def _matches(payload: Any, where: Mapping[str, Any]) -> bool:
    for field, cond in where.items():
        value = _get(payload, field)
        if isinstance(cond, Mapping):
            (op, arg), = cond.items()
            if op != "exists" and value is _MISSING:
                return False
            try:
                if not OPS[op](value, arg):
                    return False
            except TypeError:
                return False
        elif isinstance(cond, list):
            if value not in cond:
                return False
        elif value is _MISSING or value != cond:
            return False
    return True


class _Unread:
    n = 0


def _messages(events: Any, unread: _Unread) -> Iterator[dict[str, Any]]:
    """Published envelopes (first copy of each message id), in history order, read as the
    history streams by; ``unread`` counts publish events that carried no readable bytes."""
    seen: set[str] = set()
    for e in events:
        if e.get("kind") != "publish":
            continue
        body = e.get("body")
        if not body:
            unread.n += 1
            continue
        mid = e.get("message_id")
        if mid in seen:
            continue
        try:
            env = json.loads(base64.b64decode(body))
        except ValueError:
            continue  # not an envelope (the workload's malformed inputs)
        if not isinstance(env, dict):
            continue
        if mid:
            seen.add(mid)
        yield {"index": e.get("index"), "message_id": mid, "type": env.get("type"),
               "correlation_id": env.get("correlation_id"),
               "causation_id": env.get("causation_id"),
               "payload": env.get("payload"), "producer": e.get("producer")}


def rule_check(rule: Mapping[str, Any]) -> Check:
    """The checker of a parsed rule (see :func:`parse_rule`)."""

    def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
        ex = Examples(limit_of(opts))
        unread = _Unread()
        n_messages = n_hits = 0
        before: set[Any] = set()
        by_id: dict[Any, dict[str, Any]] = {}  # caused_by: every message, to walk causes
        hits: list[dict[str, Any]] = []
        for m in _messages(_events(history), unread):
            n_messages += 1
            hit = m["type"] == rule["type"] and _matches(m["payload"], rule["where"])
            if rule["kind"] == "never":
                if hit:
                    n_hits += 1
                    ex.add("violation", _show(m))
                continue
            if "caused_by" in rule:
                if m["message_id"]:
                    by_id[m["message_id"]] = m
                if hit:
                    n_hits += 1
                    hits.append(m)
                continue
            after, by = rule["after"], rule["by"]
            key = _key(m, by)
            if (m["type"] == after["type"] and _matches(m["payload"], after["where"])
                    and key is not _MISSING):
                before.add(key)
            if hit:
                n_hits += 1
                if _key(m, by) not in before:
                    ex.add("violation", {**_show(m), "missing_before": after["type"]})
        for m in hits:  # caused_by: judged once every message is known
            if not _has_cause(m, by_id, rule["caused_by"]):
                ex.add("violation", {**_show(m), "not_caused_by": rule["caused_by"]["type"]})
        if not n_messages and unread.n:
            return Verdict(UNKNOWN, {"messages": 0, "unreadable": unread.n}, {},
                           "the history records no message bytes: the rule cannot be judged")
        counts: dict[str, Any] = {"messages": n_messages, "matched": n_hits,
                                  "violations": ex.n("violation")}
        return Verdict(not ex, counts, ex.items)

    return check


def _has_cause(m: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]],
               cause: Mapping[str, Any]) -> bool:
    """Whether a message matching ``cause`` is on ``m``'s causation chain (cycles stop)."""
    seen: set[str] = set()
    parent = by_id.get(m.get("causation_id") or "")
    while parent is not None and parent["message_id"] not in seen:
        if parent["type"] == cause["type"] and _matches(parent["payload"], cause["where"]):
            return True
        seen.add(parent["message_id"])
        parent = by_id.get(parent.get("causation_id") or "")
    return False


def _key(m: Mapping[str, Any], by: str) -> Any:
    return m["correlation_id"] if by == "correlation" else _get(m["payload"], by)


def _show(m: Mapping[str, Any]) -> dict[str, Any]:
    payload = m["payload"]
    small = json.dumps(payload, default=str)[:300] if payload is not None else None
    return {"message_id": m["message_id"], "type": m["type"], "producer": m["producer"],
            "correlation_id": m["correlation_id"], "index": m["index"], "payload": small}


def function_check(ref: str) -> Check:
    """The checker of a user function ``/abs/FILE.py:function`` (loaded when it runs)."""

    def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
        from harness.pipeline import load_object

        fn = load_object(ref, base=Path.cwd(), where=ref)
        events = _events(history)
        return _as_verdict(fn(events, last_snapshot(events)), limit_of(opts))

    return check


def last_snapshot(events: Any) -> dict[str, Any] | None:
    """The history's last ``snapshot``, with the effects of its parts (``part``: 1, 2, ...)
    joined into one list; None without one."""
    snapshot: dict[str, Any] | None = None
    for e in events:
        if e.get("kind") != "snapshot":
            continue
        if not e.get("part"):
            snapshot = {**e, "effects": list(e.get("effects") or [])}
        elif snapshot is not None:
            snapshot["effects"].extend(e.get("effects") or [])
    return snapshot


def _events(history: Any) -> Any:
    """The events of an in-memory history as its list; a history on disk
    (:class:`~harness.history.HistoryFile`) as itself: iterable many times, each a stream."""
    if hasattr(history, "chunks"):
        return history
    events = getattr(history, "events", history)
    return events if isinstance(events, list) else list(events)


def _as_verdict(result: Any, limit: int) -> Verdict:
    if isinstance(result, Verdict):
        return result
    if result is True or result is False or result == UNKNOWN:
        return Verdict(result)
    if isinstance(result, list):
        ex = Examples(limit)
        for problem in result:
            ex.add("violation", problem)
        return Verdict(not result, {"violations": len(result)}, ex.items)
    return Verdict(UNKNOWN, {}, {}, f"the invariant returned {type(result).__name__}, not a "
                                    "Verdict, a bool or a list of problems")


def user_check(name: str, opts: Mapping[str, Any]) -> Check | None:
    """The checker a probe's options describe (``rule`` or ``function``), else None."""
    if isinstance(opts.get("rule"), Mapping):
        return rule_check(opts["rule"])
    if isinstance(opts.get("function"), str):
        return function_check(opts["function"])
    return None
