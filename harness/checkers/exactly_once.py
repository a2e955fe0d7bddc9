"""Checker ``exactly_once``: no effect happened twice and the ledger balances.

From ``effect`` events (applied ones) and the end-of-run ``snapshot``:

- duplicate_key: one idempotency key applied twice (the store did not deduplicate);
- duplicate_effect: one logical effect (same correlation, agent and effect name) applied under
  more than one key: the key was not derived from the input (fresh per try, or per delivery),
  so a retry or a duplicate delivery did the work again. Effects an agent applies several times
  per input on purpose need distinct names (``ctx.effect("ship:item-3")``);
- unbalanced: the snapshot's ledger debits differ from its credits;
- unrecorded: the store holds an effect the history never saw applied (done behind the SDK).

No snapshot -> the ledger cannot be checked -> unknown (unless ``require_snapshot: false``).

Counts: applied, skipped_duplicates, duplicate_key, duplicate_effect, unbalanced, unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checkers.base import UNKNOWN, Examples, Verdict, as_events, limit_of

__all__ = ["check"]


def check(history: Any, opts: Mapping[str, Any]) -> Verdict:
    events = as_events(history)
    ex = Examples(limit_of(opts))
    by_key: dict[str, int] = {}
    logical: dict[tuple[Any, Any, Any], set[str]] = {}
    snapshot: dict[str, Any] | None = None
    skipped = 0
    for e in events:
        kind = e.get("kind")
        if kind == "effect":
            if not e.get("applied"):
                skipped += 1
                continue
            key = str(e.get("key"))
            by_key[key] = by_key.get(key, 0) + 1
            logical.setdefault((e.get("correlation_id"), e.get("agent"), e.get("effect")),
                               set()).add(key)
        elif kind == "snapshot":
            snapshot = e
    counts: dict[str, Any] = {"applied": sum(by_key.values()), "skipped_duplicates": skipped,
                              "duplicate_key": 0, "duplicate_effect": 0, "unbalanced": 0,
                              "unrecorded": 0}
    for key, n in by_key.items():
        if n > 1:
            counts["duplicate_key"] += 1
            ex.add("duplicate_key", {"key": key, "applied": n})
    for (cid, agent, effect), keys in logical.items():
        if len(keys) > 1:
            counts["duplicate_effect"] += 1
            ex.add("duplicate_effect", {"correlation_id": cid, "agent": agent, "effect": effect,
                                        "keys": sorted(keys)[:4], "times": len(keys)})
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
        for eff in snapshot.get("effects") or []:
            key = eff.get("key") if isinstance(eff, dict) else None
            if key is not None and key not in by_key:
                counts["unrecorded"] += 1
                ex.add("unrecorded", {"key": key, "agent": eff.get("agent"),
                                      "effect": eff.get("effect"),
                                      "correlation_id": eff.get("correlation_id")})
    bad = (counts["duplicate_key"] or counts["duplicate_effect"] or counts["unbalanced"]
           or counts["unrecorded"])
    if bad:
        valid: Any = False
    elif snapshot is None and opts.get("require_snapshot", True):
        valid = UNKNOWN
    else:
        valid = True
    return Verdict(valid, counts, ex.items, error)
