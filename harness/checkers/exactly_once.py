"""Checker ``exactly_once``: no effect happened twice and the ledger balances.

From ``effect`` events (applied ones) and the end-of-run ``snapshot``:

- duplicate_key: one idempotency key applied twice (the store did not deduplicate);
- duplicate_effect: one logical effect (same correlation, agent and effect name) applied under
  more than one key: the key was not derived from the input (fresh per try, or per delivery),
  so a retry or a duplicate delivery did the work again. Effects an agent applies several times
  per input on purpose need distinct names (``ctx.effect("ship:item-3")``);
- duplicate_lineage: one effect (agent, effect name) applied under more than one key for
  messages of one idempotency lineage (the same idempotency key: a resubmission, a client's
  retry, an upstream that re-derived its output): the agent keyed the effect on something
  else (the message id, the correlation id). Outcomes (``outcome:*``) are per correlation and
  exempt;
- duplicate_business_key: an effect declared unique per business key (the pipeline's
  ``effects: {ledger.post: {unique: [payment_id]}}``, or the option ``unique``) applied more
  than once for one value of that key, under any correlation; no_business_key: such an effect
  whose recorded data lacks a field of the key;
- unbalanced: the snapshot's ledger debits differ from its credits;
- unrecorded: the store holds an effect the history never saw applied (done behind the SDK);
- crash_unrecorded (not a problem): the store holds an effect whose agent process wrote its
  ``intent`` and died (SIGKILL) before writing the ``effect`` line: it counts as applied once
  (and still takes part in every duplicate check above, with the intent's identities);
- undecided: such an intent whose process is not known to have died -> unknown.

No snapshot -> the ledger cannot be checked -> unknown (unless ``require_snapshot: false``).

Counts: applied, skipped_duplicates, duplicate_key, duplicate_effect, duplicate_lineage,
duplicate_business_key, no_business_key, unbalanced, unrecorded, crash_unrecorded, undecided.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from harness import spill
from harness.checkers import stream
from harness.checkers.base import UNKNOWN, Examples, Verdict, limit_of
from harness.spill import SpillDict

Event = dict[str, Any]

__all__ = ["PROBLEMS", "check"]

PROBLEMS = ("duplicate_key", "duplicate_effect", "duplicate_lineage", "duplicate_business_key",
            "no_business_key", "unbalanced", "unrecorded")


class Judge(stream.Judge):
    """No effect happened twice and the ledger balances (module docstring)."""

    kinds = frozenset({"effect", "snapshot"})
    cost = 0.6
    ahead = False  # reads its Facts only in its verdict

    def feed_chunk(self, events: list[Event], by_kind: Mapping[Any, list[Event]]) -> None:
        # a stored effect applied after its snapshot is dropped at the end (verdict), so the
        # effects and the snapshots of a chunk need not be read interleaved
        self.feed(by_kind.get("effect") or [])
        self.feed(by_kind.get("snapshot") or [])

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.ex = Examples(limit_of(opts))
        # key -> times applied; (correlation, agent, effect), (agent, effect, idempotency key)
        # and (effect, *business key) -> the keys applied for it (one as itself, more a set)
        self.by_key = SpillDict(spill.add)
        self.applied = 0
        self.logical = SpillDict(spill.union)
        self.lineage = SpillDict(spill.union)
        self.unique = _unique_fields(opts.get("unique") or {})
        self.business = SpillDict(spill.union)
        self.snapshot: dict[str, Any] | None = None
        self.stored: list[dict[str, Any]] = []  # stored effects not (yet) seen applied
        self.skipped = 0
        self.names: dict[Any, Any] = {}  # one copy of each agent and effect name

    def feed(self, events: list[Event]) -> None:
        put = self.by_key.put
        for e in events:
            kind = e.get("kind")
            if kind == "effect":
                if not e.get("applied"):
                    self.skipped += 1
                    continue
                key = str(e.get("key"))
                put(key, 1)
                self.applied += 1
                self._index(e, key)
            elif kind == "snapshot":
                self._snapshot(e)

    def _index(self, e: Mapping[str, Any], key: str) -> None:
        """File one applied effect (or a crash gap's intent) under its logical, lineage and
        business keys (names and correlation ids shared, one key kept as itself)."""
        names = self.names
        name = e.get("effect")
        agent = e.get("agent")
        name = names.setdefault(name, name)
        agent = names.setdefault(agent, agent)
        cid = e.get("correlation_id")
        self.logical.put((sys.intern(cid) if type(cid) is str else cid, agent, name), key)
        if e.get("idempotency_key") and not str(name).startswith("outcome:"):
            self.lineage.put((agent, name, e["idempotency_key"]), key)
        if name in self.unique:
            _business(e, key, self.unique[name], self.business, self.ex)

    def _snapshot(self, e: Event) -> None:
        """The last snapshot wins; a ``part`` continues it. Only the stored effects whose key
        was not applied by then are kept (to judge at the end: usually none)."""
        if e.get("part"):
            if self.snapshot is None:
                return
        else:
            self.snapshot = e
            self.stored = []
        effects = [eff for eff in e.get("effects") or []
                   if isinstance(eff, dict) and eff.get("key") is not None]
        missing = self.by_key.absent(eff["key"] for eff in effects)
        self.stored.extend(eff for eff in effects if eff["key"] in missing)

    def verdict(self, info: stream.Info) -> Verdict:
        ex, by_key, snapshot = self.ex, self.by_key, self.snapshot
        counts: dict[str, Any] = {"applied": self.applied,
                                  "skipped_duplicates": self.skipped,
                                  "duplicate_key": 0, "duplicate_effect": 0,
                                  "duplicate_lineage": 0, "duplicate_business_key": 0,
                                  "no_business_key": 0, "unbalanced": 0,
                                  "unrecorded": 0, "crash_unrecorded": 0, "undecided": 0}
        error = None
        if snapshot is None:
            error = "no snapshot event: the ledger cannot be checked"
        else:
            ledger = snapshot.get("ledger") or {}
            counts["ledger_debits"] = ledger.get("debits")
            counts["ledger_credits"] = ledger.get("credits")
            if ledger and (ledger.get("debits") != ledger.get("credits")
                           or ledger.get("balanced") is False):
                counts["unbalanced"] = 1
                ex.add("unbalanced", {"debits": ledger.get("debits"),
                                      "credits": ledger.get("credits")})
            gaps = info.tracker.gaps()
            for eff in self.stored:
                stored = eff["key"]
                if stored in by_key:
                    continue
                where = {"key": stored, "agent": eff.get("agent"), "effect": eff.get("effect"),
                         "correlation_id": eff.get("correlation_id")}
                if stored in gaps.effects_died:  # committed, then the process died: once
                    counts["crash_unrecorded"] += 1
                    by_key.put(stored, 1)
                    self.applied += 1
                    self._index(gaps.effects_died[stored], stored)
                elif stored in gaps.effects_open:
                    counts["undecided"] += 1
                    ex.add("undecided", {**where,
                                         "process": gaps.effects_open[stored].get("process")})
                else:
                    counts["unrecorded"] += 1
                    ex.add("unrecorded", where)
        counts["no_business_key"] = ex.n("no_business_key")
        for key, n in by_key.items():
            if n > 1:
                counts["duplicate_key"] += 1
                ex.add("duplicate_key", {"key": key, "applied": n})
        for (cid, agent, effect), keys in self.logical.items():
            if type(keys) is set:
                counts["duplicate_effect"] += 1
                ex.add("duplicate_effect", {"correlation_id": cid, "agent": agent,
                                            "effect": effect, "keys": sorted(keys)[:4],
                                            "times": len(keys)})
        for (agent, effect, idem), keys in self.lineage.items():
            if type(keys) is set:
                counts["duplicate_lineage"] += 1
                ex.add("duplicate_lineage", {"agent": agent, "effect": effect,
                                             "idempotency_key": idem, "keys": sorted(keys)[:4],
                                             "times": len(keys)})
        for (effect, *value), keys in self.business.items():
            if type(keys) is set:
                counts["duplicate_business_key"] += 1
                ex.add("duplicate_business_key", {"effect": effect, "key": dict(value),
                                                  "keys": sorted(keys)[:4],
                                                  "times": len(keys)})
        counts["applied"] = self.applied
        bad = any(counts[p] for p in PROBLEMS)
        if bad:
            valid: Any = False
        elif snapshot is None and self.opts.get("require_snapshot", True):
            valid = UNKNOWN
        elif counts["undecided"]:
            valid = UNKNOWN
            error = (f"{counts['undecided']} effect(s) in the store were never recorded as "
                     "applied and their process is not known to have died (cannot decide)")
        else:
            valid = True
        return Verdict(valid, counts, ex.items, error)


check = stream.judged(Judge)


def _unique_fields(spec: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``{effect: field | [fields] | {unique: ...}}`` -> effect -> the key's fields."""
    out: dict[str, tuple[str, ...]] = {}
    for effect, fields in spec.items():
        if isinstance(fields, Mapping):
            fields = fields.get("unique")
        if isinstance(fields, str):
            fields = [fields]
        if fields:
            out[str(effect)] = tuple(str(f) for f in fields)
    return out


def _business(e: Mapping[str, Any], key: str, fields: tuple[str, ...],
              business: SpillDict, ex: Examples) -> None:
    data = e.get("data")
    values = [(f, data.get(f)) if isinstance(data, Mapping) else (f, None) for f in fields]
    if any(v is None for _, v in values):
        ex.add("no_business_key", {"agent": e.get("agent"), "effect": e.get("effect"),
                                   "key": key, "fields": list(fields),
                                   "correlation_id": e.get("correlation_id")})
        return
    group = (e.get("effect"), *((f, _hashable(v)) for f, v in values))
    business.put(group, key)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else repr(value)
