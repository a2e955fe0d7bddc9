"""``harness chaos merge``: shards' sweep results -> the sweep one machine would have reported.

Every shard folder's ``results.json`` is read and checked before anything is written: a missing
or damaged file, shards of another experiment (its file's sha256 and variants), broker, mode or
harness version, and a seed run by two shards are each one :class:`InputError` naming the file.
Seeds that no shard ran are not an error: they are reported (``missing``, ``missing_shards``)
and make the merged verdict at best unknown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.chaos.sweep import KIND, parse_seeds, summarise
from harness.errors import InputError

__all__ = ["load_sweep", "merge_sweeps"]

_VALID = (True, False, "unknown")


def _fail(path: Path, message: str) -> InputError:
    return InputError(message, where=str(path))


def load_sweep(folder: str | Path) -> tuple[Path, dict[str, Any]]:
    """A shard's sweep results: (the results.json path, its data), checked field by field.

    Raises:
        InputError: missing, not JSON, not a sweep, or a field of the wrong shape (named).
    """
    folder = Path(folder)
    path = folder if folder.name == "results.json" else folder / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no results.json: not a chaos sweep folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _fail(path, f"cannot read results.json: {what}") from None
    if not isinstance(data, dict):
        raise _fail(path, "not a JSON object")
    if data.get("kind") != KIND:
        raise _fail(
            path,
            "not a seed sweep's results (a single run? sweeps are written by "
            "`harness chaos run EXP --seeds A-B [--shard K/N]`)",
        )
    exp = data.get("experiment")
    if not isinstance(exp, dict) or not all(
        isinstance(exp.get(k), str) for k in ("name", "sha256")
    ):
        raise _fail(path, "experiment: needs name and sha256 strings")
    if not isinstance(data.get("harness_version"), str):
        raise _fail(path, "harness_version: missing")
    if not isinstance(data.get("seeds"), str):
        raise _fail(path, "seeds: missing")
    named = set(parse_seeds(data["seeds"], where=f"{path}: seeds"))
    shards = data.get("shards")
    if not isinstance(shards, list) or not all(
        isinstance(s, dict) and _int(s.get("k")) and _int(s.get("n")) for s in shards
    ):
        raise _fail(path, "shards: must be a list of {k, n}")
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise _fail(path, "runs: must be a list")
    for i, r in enumerate(runs):
        if not isinstance(r, dict) or not _int(r.get("seed")):
            raise _fail(path, f"runs[{i}].seed: must be an integer")
        if r["seed"] not in named:
            raise _fail(
                path,
                f"runs[{i}].seed: {r['seed']} is not among the sweep's seeds ({data['seeds']})",
            )
        if (
            r.get("valid") not in _VALID
            or not isinstance(r.get("verdicts"), dict)
            or not all(isinstance(v, dict) for v in r["verdicts"].values())
        ):
            raise _fail(path, f"runs[{i}] (seed {r['seed']}): needs valid and verdicts")
    return path, data


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _same(what: str, key: Any, path: Path, first: Path, mine: Any, theirs: Any) -> None:
    if mine != theirs:
        raise _fail(
            path,
            f"shard of a different {what}: {mine} here, {theirs} in {first} "
            f"(shards merge only with the same {key})",
        )


def merge_sweeps(folders: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Merge shard folders into one sweep summary (see :func:`harness.chaos.sweep.summarise`),
    with each seed's ``dir`` relative to ``out`` so the merged report links to the shards'
    own reports. Nothing is written here."""
    if not folders:
        raise InputError("give at least one shard folder", where="merge")
    loaded = [load_sweep(f) for f in folders]
    first, ref = loaded[0]
    owner: dict[int, Path] = {}
    runs: list[dict[str, Any]] = []
    shards: list[dict[str, Any]] = []
    for path, data in loaded:
        e, r = data["experiment"], ref["experiment"]
        _same(
            "experiment",
            "experiment file",
            path,
            first,
            f"{e['name']} (sha256 {e['sha256'][:12]}, variants {e.get('variants') or {}})",
            f"{r['name']} (sha256 {r['sha256'][:12]}, variants {r.get('variants') or {}})",
        )
        _same(
            "harness version",
            "harness version",
            path,
            first,
            data["harness_version"],
            ref["harness_version"],
        )
        _same(
            "broker",
            "broker and mode",
            path,
            first,
            f"{data.get('broker')}{' simulated' if data.get('simulated') else ''}",
            f"{ref.get('broker')}{' simulated' if ref.get('simulated') else ''}",
        )
        _same("seed list", "--seeds", path, first, data["seeds"], ref["seeds"])
        for run in data["runs"]:
            seed = run["seed"]
            if seed in owner:
                raise _fail(
                    path,
                    f"seed {seed} was also run by {owner[seed]}: overlapping "
                    "shards (each seed must come from one shard)",
                )
            owner[seed] = path
            where = path.parent / str(run.get("dir") or f"seed-{seed}")
            runs.append({**run, "dir": os.path.relpath(where, Path(out))})
        shards.extend({**s, "from": str(path.parent)} for s in data["shards"])
    ident = {k: ref[k] for k in ("harness_version", "experiment", "broker", "simulated")}
    seeds = parse_seeds(ref["seeds"])
    return summarise(
        ident, seeds, runs, shards=sorted(shards, key=lambda s: s["k"]), expected=seeds
    )
