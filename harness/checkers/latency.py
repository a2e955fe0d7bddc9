"""Checker ``latency``: budgets per agent and end to end, fallback use, and coupling.

Per agent, the ``latency_ms`` of its ``ack`` events (delivery to ack); end to end, the time from
``ingress`` to the correlation's ``outcome``. Each gets p50/p95/p99 and is compared with its
budget.

Options (also read from ``run_start``'s ``budgets``/``fallbacks`` when not given):

- ``budgets``: {agent or ``end_to_end``: {p50_ms|p95_ms|p99_ms|max_ms: number,
  fallback_rate: fraction}};
- ``fallback_rate``: the largest share of deliveries (all agents) that may use a fallback;
- ``fallbacks``: {agent: [dependencies with a fallback]} (for coupling);
- ``coupling``: check coupling (default true): while a fault makes a dependency slow by L ms, an
  agent that has a fallback for it must not take >= ``coupling_ratio`` (0.8) x L at the median:
  it should have given up at its timeout and used the fallback.
- ``min_samples``: fewer samples than this (default 1) -> the budget is not judged.
- ``load_allowance``: K (default 0: none). The run's measured event-loop lag (the ``load``
  note the chaos runner records: how late a timer woke, p99) is how long every hop waited for
  the CPU on a busy machine; K x that lag, at most ``load_allowance_max_ms`` (default 1000),
  is added to every millisecond budget (agents and end to end). Without a ``load`` note nothing
  is added. A breach larger than the allowance (a handler over its budget on an idle machine,
  a sync call of seconds) is still a breach; fallback rates and coupling are never relaxed.

Counts: per agent {n, p50_ms, p95_ms, p99_ms, fallbacks}, ``end_to_end``, ``fallback_rate``,
``budget_violations``, ``coupled``, and ``load_allowance_ms`` / ``loop_lag_p99_ms`` when the
allowance is on.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from harness import spill
from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of
from harness.checkers.facts import percentile
from harness.spill import SpillDict

__all__ = ["DEPENDENCY_FAULTS", "Samples", "check", "latencies"]

Event = dict[str, Any]

DEPENDENCY_FAULTS = frozenset({"slow_dependency", "dependency_down"})
_PCTS = (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99), ("max_ms", 100))
_MS = frozenset(name for name, _ in _PCTS)
_ENDS = frozenset({"ingress", "outcome"})
_ACK = itemgetter("agent", "time", "latency_ms")


class Samples(stream.Judge):
    """The latencies of a history, read in one pass (compactly: times and end-to-end
    latencies as float arrays; a correlation's start is forgotten once it has an outcome)."""

    kinds = frozenset({"ack", "ingress", "outcome", "fallback", "note"})
    cost = 0.5
    ahead = False  # reads its Facts only in its verdict

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # acks, fallbacks and notes are independent of the inputs' starts and ends
        group = by_kind.get("ack") if self._acks_read else None
        if group:
            self._acks(group)
        for kind in ("fallback", "note"):
            group = by_kind.get(kind)
            if group:
                self.feed(group)
        self.feed(stream.pick(events, by_kind, _ENDS))

    def _acks(self, events: list[Event]) -> None:
        """:meth:`feed` for acks: a float latency and time of an agent already seen is kept
        here, any other ack by :meth:`feed`."""
        rows = stream.rows(events, _ACK)
        if rows is None:  # a field missing: one event at a time
            self.feed(events)
            return
        times, lats = self.times, self.lats
        for e, (agent, t, lat) in zip(events, rows, strict=True):
            if type(lat) is float and type(t) is float and agent:
                at = times.get(agent)
                if at is not None:
                    at.append(t)
                    lats[agent].append(lat)
                    continue
            self.feed([e])

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.times: dict[str, array[float]] = {}
        self.lats: dict[str, Any] = {}  # agent -> latencies (a float array while all are floats)
        self.started = SpillDict(spill.last)  # cid -> its ingress time; None: the outcome is in
        #: option ``acks: false`` (a run's summary): only the end-to-end latencies
        self._acks_read = bool(opts.get("acks", True))
        self.e2e: array[float] = array("d")
        self.fallbacks: dict[str, int] = {}
        self.lag: float | None = None  # the run's event-loop lag p99 (the last ``load`` note)

    def feed(self, events: list[Event]) -> None:
        started, e2e, times, all_lats = self.started, self.e2e, self.times, self.lats
        for e in events:
            kind = e.get("kind")
            if kind == "ack":
                lat = e.get("latency_ms")
                if isinstance(lat, (int, float)) and e.get("agent"):
                    agent = e["agent"]
                    t = float(e.get("time", 0))
                    at = times.get(agent)
                    if at is None:
                        at = times[agent] = array("d")
                        all_lats[agent] = array("d")
                    at.append(t)
                    lats = all_lats[agent]
                    if type(lat) is not float and type(lats) is not list:
                        lats = self.lats[agent] = list(lats)  # keep ints (and bools) as they are
                    lats.append(lat)
            elif kind == "ingress":
                cid = e.get("correlation_id")
                if cid and cid not in started:
                    started.put(sys.intern(cid) if type(cid) is str else cid,
                                float(e.get("time", 0)))
            elif kind == "outcome":
                cid = e.get("correlation_id")
                t0 = started.get(cid)
                if t0 is not None:
                    started.put(cid, None)
                    e2e.append((float(e.get("time", 0)) - t0) * 1000)
            elif kind == "fallback" and e.get("agent"):
                self.fallbacks[e["agent"]] = self.fallbacks.get(e["agent"], 0) + 1
            elif kind == "note" and e.get("note") == "load":  # the last one counts
                value = e.get("loop_lag_p99_ms")
                self.lag = (float(value) if isinstance(value, (int, float))
                            and not isinstance(value, bool) and value >= 0 else None)

    def verdict(self, info: stream.Info) -> Samples:
        return self

    def per_agent(self, agent: str) -> list[Any]:
        return list(self.lats.get(agent, ()))


def latencies(events: Any) -> tuple[dict[str, list[tuple[float, float]]], list[float],
                                     dict[str, int]]:
    """(agent -> [(time, latency_ms)], end-to-end latencies in ms, agent -> fallbacks)."""
    got = stream.judged(Samples)(events, {})
    per_agent = {a: list(zip(got.times[a], got.lats[a], strict=True)) for a in got.times}
    return per_agent, list(got.e2e), dict(got.fallbacks)


def _stats(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(values)}
    for name, p in _PCTS:
        v = percentile(values, p)
        out[name] = None if v is None else round(v, 3)
    return out


def _judge(name: str, stats: dict[str, Any], budget: Mapping[str, Any], ex: Examples,
           min_samples: int) -> None:
    if stats["n"] < min_samples:
        return
    for key, limit in budget.items():
        if key in stats and stats[key] is not None and stats[key] > float(limit):
            ex.add("budget", {"agent": name, "metric": key, "value": stats[key],
                              "budget": float(limit), "samples": stats["n"]})


class Judge(Samples):
    """Budgets per agent and end to end, fallback use, and coupling (module docstring)."""

    def verdict(self, info: stream.Info) -> Verdict:  # type: ignore[override]
        return _judge_samples(self, self.opts, self.facts)


def _judge_samples(got: Samples, opts: Mapping[str, Any], facts: stream.Facts) -> Verdict:
    ex = Examples(limit_of(opts))
    start = facts.run_start()
    budgets: dict[str, Any] = dict(start.get("budgets") or {})
    for agent, b in (opts.get("budgets") or {}).items():
        budgets[agent] = {**budgets.get(agent, {}), **b}
    with_fallback = opts.get("fallbacks", start.get("fallbacks")) or {}
    min_samples = int(opts.get("min_samples", 1))
    e2e, fallbacks = list(got.e2e), got.fallbacks
    counts: dict[str, Any] = {"agents": {}, "end_to_end": _stats(e2e)}
    if opts.get("load_allowance"):
        lag = got.lag
        cap = float(opts.get("load_allowance_max_ms", 1000))
        extra = round(min(float(opts["load_allowance"]) * lag, cap), 3) if lag is not None else 0.0
        counts["loop_lag_p99_ms"], counts["load_allowance_ms"] = lag, extra
        budgets = {a: {k: (float(v) + extra if k in _MS else v) for k, v in b.items()}
                   for a, b in budgets.items()}
    total_acks = total_fb = 0
    for agent in sorted(got.lats):
        stats = _stats(got.per_agent(agent))
        stats["fallbacks"] = fallbacks.get(agent, 0)
        counts["agents"][agent] = stats
        total_acks += stats["n"]
        total_fb += stats["fallbacks"]
        budget = dict(budgets.get(agent) or {})
        rate_limit = budget.pop("fallback_rate", None)
        _judge(agent, stats, budget, ex, min_samples)
        if rate_limit is not None and stats["n"]:
            rate = stats["fallbacks"] / stats["n"]
            if rate > float(rate_limit):
                ex.add("fallback_rate", {"agent": agent, "rate": round(rate, 4),
                                         "limit": float(rate_limit)})
    e2e_budget = {k: v for k, v in (budgets.get("end_to_end") or {}).items()
                  if k != "fallback_rate"}
    _judge("end_to_end", counts["end_to_end"], e2e_budget, ex, min_samples)
    rate = total_fb / total_acks if total_acks else 0.0
    counts["fallback_rate"] = round(rate, 4)
    if opts.get("fallback_rate") is not None and rate > float(opts["fallback_rate"]):
        ex.add("fallback_rate", {"agent": "*", "rate": round(rate, 4),
                                 "limit": float(opts["fallback_rate"])})
    if opts.get("coupling", True):
        _coupling(facts.faults, got, with_fallback, float(opts.get("coupling_ratio", 0.8)), ex)
    counts["budget_violations"] = ex.n("budget")
    counts["coupled"] = ex.n("coupled")
    # an untapped black box's acks are not observed (external agents): its own budget cannot
    # be judged (never "valid"); a tapped one's acks carry latency_ms like an SDK agent's
    unseen = sorted(a for a in (start.get("black_boxes") or ())
                    if budgets.get(a) and a not in got.lats)
    if unseen:
        counts["unobserved"] = unseen
        if not ex:
            return Verdict(UNKNOWN, counts, ex.items,
                           error=f"acks of black-box agent(s) {', '.join(unseen)} are not "
                                 "observed: their latency budgets cannot be checked")
    return Verdict(not ex, counts, ex.items)


check = stream.judged(Judge)


def _coupling(events: list[dict[str, Any]], got: Samples, with_fallback: Mapping[str, Any],
              ratio: float, ex: Examples) -> None:
    windows: dict[Any, dict[str, Any]] = {}
    for e in events:
        if e.get("fault") not in DEPENDENCY_FAULTS:
            continue
        fid = e.get("fault_id") or e.get("target")
        if e.get("kind") == "fault_start":
            windows[fid] = {"start": float(e.get("time", 0)), "end": None,
                            "dependency": e.get("dependency"),
                            "agent": e.get("agent") or e.get("target_agent"),
                            "latency_ms": (e.get("params") or {}).get("latency_ms"),
                            "fault": e.get("fault")}
        elif e.get("kind") == "fault_end" and fid in windows:
            windows[fid]["end"] = float(e.get("time", 0))
    for fid, w in windows.items():
        dep = w["dependency"]
        lat = w["latency_ms"]
        if w["fault"] == "dependency_down":
            lat = lat or 10_000
        if not dep or not lat:
            continue
        end = w["end"] if w["end"] is not None else float("inf")
        for agent, deps in with_fallback.items():
            if dep not in (deps or []) or (w["agent"] and w["agent"] != agent):
                continue
            inside = [x for t, x in zip(got.times.get(agent, ()), got.lats.get(agent, ()),
                                        strict=True) if w["start"] <= t <= end + 1.0]
            med = percentile(inside, 50)
            if med is not None and med >= ratio * float(lat):
                ex.add("coupled", {"agent": agent, "dependency": dep, "fault": str(fid),
                                   "median_ms": round(med, 3), "dependency_delay_ms": lat,
                                   "samples": len(inside)})
