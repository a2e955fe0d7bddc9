"""Seed sweeps: one experiment over many seeds, split into shards that run on different machines.

``harness chaos run EXP --seeds 1-1000 --shard K/N`` runs the seeds of shard K (1-based) of N:
the seeds whose position in the sorted seed list, counted from 0, satisfies ``i % N == K - 1``
(round robin, so every shard gets an even share of low and high seeds). The partition depends
only on the seed list and N: every machine computes the same one.

A sweep writes each seed's usual run folder (``seed-S/``) and, beside them, the sweep's own
``results.json`` (:func:`summarise`), ``junit.xml`` and ``report.html``;
:mod:`harness.chaos.merge` combines shards' sweeps into the summary one machine would have made.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import __version__
from harness.checkers.base import merge_valid
from harness.errors import HarnessError, InputError

__all__ = [
    "KIND",
    "MAX_SEEDS",
    "errored_entry",
    "identity",
    "parse_seeds",
    "parse_shard",
    "run_entry",
    "seed_ranges",
    "shard_seeds",
    "summarise",
    "sweep",
]

#: the ``kind`` of a sweep's results.json (a single run's has no kind)
KIND = "chaos-sweep"
#: most seeds one sweep may name (a typo such as 1-10000000000 is refused, not run)
MAX_SEEDS = 100_000

_RANGE = re.compile(r"^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$")


def parse_seeds(text: str, *, where: str = "--seeds") -> list[int]:
    """``"1-1000"``, ``"7"`` or ``"1-5,9,20-30"`` -> the sorted distinct seeds.

    Raises:
        InputError: a malformed part, a range whose end is below its start, or too many seeds.
    """
    seeds: set[int] = set()
    for part in str(text).split(","):
        m = _RANGE.match(part)
        if not m:
            raise InputError(
                f"{part.strip()!r} is not a seed or a range LOW-HIGH (e.g. 1-1000 or 1-5,9)",
                where=where,
            )
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) is not None else low
        if high < low:
            raise InputError(f"range {low}-{high} ends below its start", where=where)
        if high - low + 1 + len(seeds) > MAX_SEEDS:
            raise InputError(f"more than {MAX_SEEDS:,} seeds", where=where)
        seeds.update(range(low, high + 1))
    return sorted(seeds)


def parse_shard(text: str, *, seeds: int, where: str = "--shard") -> tuple[int, int]:
    """``"K/N"`` -> (K, N): shard K (1-based) of N, with 1 <= K <= N <= the number of seeds.

    Raises:
        InputError: not K/N, K out of 1..N, or more shards than seeds (an empty shard).
    """
    m = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", str(text))
    if not m:
        raise InputError(
            f"{text!r} is not K/N (shard K of N, K counted from 1, e.g. 2/4)", where=where
        )
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise InputError(f"{k}/{n}: K must be between 1 and N (K counts from 1)", where=where)
    if n > seeds:
        raise InputError(
            f"{k}/{n}: {n} shards for {seeds} seeds would leave a shard empty", where=where
        )
    return k, n


def shard_seeds(seeds: list[int], k: int, n: int) -> list[int]:
    """The seeds of shard ``k`` (1-based) of ``n``: positions i with ``i % n == k - 1``."""
    return [s for i, s in enumerate(sorted(seeds)) if i % n == k - 1]


def seed_ranges(seeds: Iterable[int]) -> str:
    """Sorted seeds as compact ranges: [1, 2, 3, 7] -> "1-3,7" ("" for none)."""
    out: list[str] = []
    ordered = sorted(set(seeds))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def identity(
    exp_path: Path, described: dict[str, Any], *, broker: str, simulated: bool
) -> dict[str, Any]:
    """What shards must share to be merged: the experiment (name, sha256 of the file, variants),
    the broker, simulation and the harness version."""
    try:
        digest = hashlib.sha256(exp_path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(
            f"cannot read the experiment: {exc.strerror}", where=str(exp_path)
        ) from exc
    return {
        "harness_version": __version__,
        "experiment": {
            "name": exp_path.stem,
            "path": str(exp_path),
            "title": described.get("title"),
            "sha256": digest,
            "variants": described.get("variants") or {},
        },
        "broker": broker,
        "simulated": simulated,
    }


def run_entry(data: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """One seed's line in a sweep, from its ``RunResult.to_dict()``."""
    return {
        "seed": data["seed"],
        "valid": data["valid"],
        "expectation_met": bool(data.get("expectation_met")),
        "verdicts": data.get("verdicts") or {},
        "dir": run_dir,
        "elapsed_s": data.get("elapsed_s") or 0.0,
    }


def summarise(
    ident: dict[str, Any],
    seeds: list[int],
    runs: list[dict[str, Any]],
    *,
    shards: list[dict[str, Any]],
    expected: list[int],
) -> dict[str, Any]:
    """A sweep's results.json (the same for one machine and for merged shards).

    Args:
        ident: :func:`identity`.
        seeds: every seed the sweep names (all shards').
        runs: :func:`run_entry` per seed run.
        shards: ``{k, n, seeds}`` per shard present (``[]`` for an unsharded sweep).
        expected: the seeds this result answers for (one shard: its own; a merge: all).

    Returns:
        {kind, harness_version, experiment, broker, simulated, seeds (the whole sweep as
        ranges), shards, expected (seeds this result should cover), runs (by seed), missing
        (seeds as ranges), missing_count, missing_shards, errored (seeds whose run raised, as
        ranges; each run's ``error`` says why), counts {valid, invalid, unknown, missing,
        errored, expectation_met}, checkers {name: {valid, invalid, unknown, invalid_seeds}},
        valid (false > unknown > true; a missing seed makes it at best unknown),
        expectation_met, elapsed_s}.
    """
    runs = sorted(runs, key=lambda r: r["seed"])
    expected = sorted(expected)
    have = {r["seed"] for r in runs}
    missing = [s for s in expected if s not in have]
    n = {s["n"] for s in shards}
    whole = len(expected) == len(seeds)  # a merge answers for every shard, a shard for itself
    missing_shards = (
        sorted(set(range(1, n.pop() + 1)) - {s["k"] for s in shards})
        if whole and len(n) == 1
        else []
    )
    counts = {
        "seeds": len(runs),
        "valid": 0,
        "invalid": 0,
        "unknown": 0,
        "missing": len(missing),
        "expectation_met": 0,
    }
    checkers: dict[str, dict[str, Any]] = {}
    for r in runs:
        counts[_label(r["valid"])] += 1
        counts["expectation_met"] += bool(r["expectation_met"])
        for name, v in r["verdicts"].items():
            row = checkers.setdefault(
                name, {"valid": 0, "invalid": 0, "unknown": 0, "invalid_seeds": []}
            )
            label = _label(v.get("valid") if isinstance(v, dict) else None)
            row[label] += 1
            if label == "invalid":
                row["invalid_seeds"].append(r["seed"])
    for row in checkers.values():
        row["invalid_seeds"] = seed_ranges(row["invalid_seeds"])
    errored = [r["seed"] for r in runs if r.get("error")]
    counts["errored"] = len(errored)
    valid = merge_valid([*(r["valid"] for r in runs), *(["unknown"] if missing else [])])
    return {
        "kind": KIND,
        **ident,
        "seeds": seed_ranges(seeds),
        "shards": shards,
        "expected": len(expected),
        "runs": runs,
        "missing": seed_ranges(missing),
        "missing_count": len(missing),
        "missing_shards": missing_shards,
        "errored": seed_ranges(errored),
        "counts": counts,
        "checkers": checkers,
        "valid": valid,
        "expectation_met": not missing and all(r["expectation_met"] for r in runs),
        "elapsed_s": round(sum(float(r.get("elapsed_s") or 0) for r in runs), 3),
    }


def _label(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def sweep(
    ident: dict[str, Any],
    seeds: list[int],
    shard: tuple[int, int] | None,
    out: Path,
    run_one: Callable[[int, Path], dict[str, Any]],
    on_seed: Callable[[dict[str, Any], int, int], None] | None = None,
    write: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Run the shard's seeds one after another, each into ``out/seed-S``; return the summary.

    ``run_one(seed, folder)`` runs one seed and returns its ``RunResult.to_dict()`` (after
    writing its files); ``on_seed(entry, done, total)`` reports progress.

    A seed whose run raises is not the end of the sweep: it is reported with ``valid:
    "unknown"`` and its ``error`` (a broker that died, a harness bug), and the next seed runs;
    but when the first seed cannot run for the harness's own reason (a broker down, wrong
    credentials: :class:`HarnessError`) the sweep stops there, as a single run would.
    Bad input (:class:`InputError`: the same for every seed) or an interrupt stops the sweep,
    but first the seeds already run are summarised and passed to ``write`` (the rest are
    missing, so that verdict is at best unknown; ``stopped`` says why): nothing run is lost.
    """
    mine = shard_seeds(seeds, *shard) if shard else list(seeds)
    shards = [{"k": shard[0], "n": shard[1], "seeds": len(mine)}] if shard else []
    runs: list[dict[str, Any]] = []
    for i, seed in enumerate(mine, 1):
        started = time.monotonic()
        try:
            entry = run_entry(run_one(seed, out / f"seed-{seed}"), f"seed-{seed}")
        except (KeyboardInterrupt, InputError) as exc:
            if write is not None and runs:
                summary = summarise(ident, seeds, runs, shards=shards, expected=mine)
                why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
                write({**summary, "stopped": f"at seed {seed}: {why}"})
            raise
        except HarnessError as exc:
            if not runs:  # the first seed cannot run (a broker down, wrong credentials): stop
                raise
            entry = errored_entry(seed, f"seed-{seed}", exc, time.monotonic() - started)
        except Exception as exc:  # one seed's failure is that seed's unknown, not the sweep's end
            entry = errored_entry(seed, f"seed-{seed}", exc, time.monotonic() - started)
        runs.append(entry)
        if on_seed:
            on_seed(entry, i, len(mine))
    return summarise(ident, seeds, runs, shards=shards, expected=mine)


def errored_entry(seed: int, run_dir: str, exc: BaseException, elapsed_s: float) -> dict[str, Any]:
    """A seed whose run raised: unknown (never valid), with the error it ended in."""
    text = str(exc).strip().splitlines()
    return {
        "seed": seed,
        "valid": "unknown",
        "expectation_met": False,
        "verdicts": {},
        "dir": run_dir,
        "elapsed_s": round(elapsed_s, 3),
        "error": f"{type(exc).__name__}: {text[0][:500] if text else '(no message)'}",
    }
