"""Instructions of the checkers' pass, load-independent: run under callgrind, counted only
inside ``operator.call`` (what is measured is called through it; imports and a warm-up pass
are not counted).

    python benchmarks/bench_checkers.py ... (or its generate()) to make a history, then
    PYTHONPATH=. valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect='_operator_call*' --callgrind-out-file=/dev/null \
        "$(python -c 'import sys; print(sys.executable)')" benchmarks/cg_checkers.py H.jsonl all

WHAT: ``all`` (read + every checker, one pass: ``judge_all``), ``read`` (the reader alone),
``bykind`` (grouping pre-read chunks by kind) or a checker's name (that judge alone, fed
pre-read chunks). callgrind prints the count as ``I refs``.
"""

from __future__ import annotations

import operator
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checkers import CHECKERS, stream  # noqa: E402
from harness.checkers.facts import GapTracker  # noqa: E402
from harness.contracts.registry import SchemaRegistry  # noqa: E402
from harness.history import open_history  # noqa: E402


def main(path: str, what: str) -> None:
    opts = {"wire": {"registry": SchemaRegistry(ROOT / "contracts")},
            "exactly_once": {"unique": {"ledger.post": ["payment_id"]}}}
    history = open_history(path)
    judges = {name: CHECKERS[name].judge for name in CHECKERS}  # type: ignore[attr-defined]
    stream.judge_all(judges, history, opts)  # warm-up: lazy imports, compiled schemas
    chunks = list(history.chunks(stream.CHUNK))
    groups = [stream.by_kind(c) for c in chunks]
    facts = stream._scan(history, stream.rare_kinds(judges))
    n = sum(map(len, chunks))
    info = stream.Info(tracker=GapTracker(), count=n, first_kind="run_start",
                       last_run_end=n - 1)

    def read() -> None:
        for _ in history.chunks(stream.CHUNK):
            pass

    def bykind() -> None:
        for c in chunks:
            stream.by_kind(c)

    def one() -> None:
        judge = judges[what](opts.get(what) or {}, facts)
        for c, g in zip(chunks, groups, strict=True):
            judge.feed_chunk(c, g)
        judge.verdict(info)

    run = {"all": lambda: stream.judge_all(judges, history, opts), "read": read,
           "bykind": bykind}.get(what, one)
    operator.call(run)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
