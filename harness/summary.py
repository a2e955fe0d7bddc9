"""A run's summary, read from its history by the same checkers that judge chaos runs.

``harness demo``, ``harness run`` (in-process and ``--processes``) and ``harness chaos run`` all
print this summary. Its figures are not a second computation: ``lost`` is what the ``no_loss``
checker finds (lost or without any fate), ``duplicate_effects`` and ``ledger_balanced`` come
from ``exactly_once``, ``unexpected_outcomes`` from ``outcomes`` and the latencies from the
``latency`` checker's own reading of the history (one percentile function).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.checkers import CHECKERS
from harness.checkers.base import Verdict, named
from harness.checkers.facts import percentile
from harness.checkers.latency import Samples
from harness.checkers.stream import Facts, Info, Judge, judge_all
from harness.spill import SpillDict

__all__ = ["SUMMARY_CHECKERS", "RunSummary", "summarise"]

#: the checkers a summary is read from
SUMMARY_CHECKERS = ("no_loss", "exactly_once", "outcomes")
_LOST_IDS = 20


@dataclass
class RunSummary:
    """What happened to the inputs of a run.

    Attributes:
        pipeline: the pipeline's name.
        transactions: inputs sent.
        completed / declined / dead_lettered: inputs with that single fate.
        lost: inputs with no fate (``no_loss``: lost, or indeterminate in a cut-off history).
        duplicate_effects: effects applied twice (``exactly_once``: same key or same logical
            effect under two keys).
        ledger_balanced: the end-of-run ledger balances (``exactly_once``).
        unexpected_outcomes: inputs whose fate is not the one the workload expected
            (``outcomes``: e.g. a valid input dead-lettered).
        p50_ms / p99_ms: end-to-end latency of inputs that reached an outcome (None: none did).
        verdicts: the three checkers' verdicts (valid / invalid / unknown).
    """

    transactions: int
    completed: int
    declined: int
    dead_lettered: int
    lost: int
    duplicate_effects: int
    ledger_balanced: bool
    p50_ms: float | None
    p99_ms: float | None
    seed: int | None = None
    pipeline: str = ""
    unexpected_outcomes: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    lost_ids: list[str] = field(default_factory=list)
    unexpected_ids: list[str] = field(default_factory=list)
    fallbacks: int = 0
    broker: str = "memory"
    store: str = "memory"
    elapsed_s: float = 0.0
    verdicts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, the ledger balanced, every input ended as expected."""
        return (self.lost == 0 and self.duplicate_effects == 0 and self.ledger_balanced
                and self.unexpected_outcomes == 0 and self.transactions > 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def summarise(events: Any, *, verdicts: Mapping[str, Verdict] | None = None,
              **info: Any) -> RunSummary:
    """The summary of a history (``info``: pipeline, seed, broker, store, elapsed_s).

    ``events`` is a list of events or a history (a file-backed one streams: one pass).
    ``verdicts`` already computed for these events (a chaos run's) are reused; the missing
    ones of :data:`SUMMARY_CHECKERS` are run here, in the same pass.
    """
    have = dict(verdicts or {})
    missing = [n for n in SUMMARY_CHECKERS if n not in have]
    judges: dict[str, Any] = {n: getattr(CHECKERS[n], "judge") for n in missing}  # noqa: B009
    judges[" samples"] = Samples
    judges[" extra"] = _Extra
    opts: dict[str, Any] = {n: {"examples": _LOST_IDS} for n in missing}
    opts[" samples"] = {"acks": False}  # the end-to-end latencies only
    done = judge_all(judges, events, opts)
    for n in missing:
        have[n] = named(n, *done[n])
    samples, extra = _result(done[" samples"]), _result(done[" extra"])
    loss, once, outs = (have[n] for n in SUMMARY_CHECKERS)
    lc, oc = loss.counts, once.counts
    lost_ids = [ex.get("correlation_id") for key in ("lost", "indeterminate")
                for ex in loss.examples.get(key, [])]
    unexpected = [ex.get("correlation_id") for key, items in outs.examples.items()
                  if key.startswith("expected_") for ex in items]
    p50, p99 = percentile(samples.e2e, 50), percentile(samples.e2e, 99)
    return RunSummary(
        transactions=int(lc.get("attempted", 0)), completed=int(lc.get("completed", 0)),
        declined=int(lc.get("declined", 0)), dead_lettered=int(lc.get("dead_lettered", 0)),
        lost=int(lc.get("lost", 0)) + int(lc.get("indeterminate", 0)),
        duplicate_effects=int(oc.get("duplicate_key", 0)) + int(oc.get("duplicate_effect", 0)),
        ledger_balanced=extra.has_snapshot and not oc.get("unbalanced"),
        p50_ms=None if p50 is None else round(p50, 2),
        p99_ms=None if p99 is None else round(p99, 2),
        unexpected_outcomes=int(outs.counts.get("mismatched", 0)),
        dead_letter_reasons=dict(sorted(extra.reasons.items())),
        lost_ids=[c for c in lost_ids if c][:_LOST_IDS],
        unexpected_ids=[c for c in unexpected if c][:_LOST_IDS],
        fallbacks=sum(samples.fallbacks.values()),
        verdicts={n: v.label for n, v in have.items() if n in SUMMARY_CHECKERS},
        **info)


def _result(done: tuple[Any, BaseException | None]) -> Any:
    value, error = done
    if error is not None:
        raise error
    return value


class _Extra(Judge):
    """Reason of each correlation's first dead letter (anonymous ones counted each), and
    whether a snapshot was recorded."""

    kinds = frozenset({"snapshot", "dead_letter"})

    def __init__(self, opts: Mapping[str, Any], facts: Facts) -> None:
        super().__init__(opts, facts)
        self.seen = SpillDict()  # correlations with a dead letter
        self.reasons: Counter[str] = Counter()
        self.has_snapshot = False

    def feed(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            kind = e.get("kind")
            if kind == "snapshot":
                self.has_snapshot = True
            if kind != "dead_letter" or not e.get("reason"):
                continue
            cid = e.get("correlation_id")
            if cid:
                if cid in self.seen:
                    continue
                self.seen.put(cid, True)
            self.reasons[str(e["reason"])] += 1

    def verdict(self, info: Info) -> _Extra:
        return self
