"""Judges split between two processes (harness.checkers.forked) give the verdicts of one
serial pass: the recorded digests of the stored histories, a child that fails, a bad file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness import spill
from harness.chaos.analyze import check_history
from harness.checkers import CHECKERS, forked, stream
from harness.checkers.base import compose
from harness.errors import HistoryError, InputError
from harness.history import open_history
from tests.checkers.test_streaming_matches_reference import (
    OPTS,
    _case,
    _digest,
    _expect,
    _recorded,
    _write_rare,
)
from tests.forks import count_forks

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this system")


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every history file checked on its own is split, whatever its size; the forks made are
    counted."""
    monkeypatch.setattr(spill, "_checking", True)
    monkeypatch.setattr(forked, "SPLIT_BYTES", 0)
    return count_forks(monkeypatch, forked.ENV)


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_split_judges_give_the_recorded_verdicts(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    path = _case(f"seed-{seed}-file", tmp_path)
    assert isinstance(path, Path)
    monkeypatch.setattr(stream, "CHUNK", 7)
    _expect(f"seed-{seed}-file", compose(CHECKERS, open_history(path), OPTS))
    assert len(forks) == 1  # judged by two processes


def test_harness_check_splits_a_large_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           forks: list[int]) -> None:
    monkeypatch.setattr(spill, "_checking", False)  # check_history says it checks a file
    path = _case("seed-3-file", tmp_path)
    split = check_history(path)
    assert len(forks) == 1 and not spill.in_check()
    monkeypatch.setenv(forked.ENV, "1")
    serial = check_history(path)
    assert len(forks) == 1 and split == serial


def test_one_process_in_a_run_when_told_or_for_a_small_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    path = _case("seed-3-file", tmp_path)
    monkeypatch.setattr(spill, "_checking", False)  # a run's summary
    _expect("seed-3-file", compose(CHECKERS, open_history(path), OPTS))
    monkeypatch.setattr(spill, "_checking", True)
    monkeypatch.setenv(forked.ENV, "1")
    _expect("seed-3-file", compose(CHECKERS, open_history(path), OPTS))
    monkeypatch.delenv(forked.ENV)
    monkeypatch.setattr(forked, "SPLIT_BYTES", Path(path).stat().st_size + 1)
    _expect("seed-3-file", compose(CHECKERS, open_history(path), OPTS))
    assert forks == []


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_process_count_is_named(value: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, forks: list[int]) -> None:
    monkeypatch.setenv(forked.ENV, value)
    with pytest.raises(InputError, match=forked.ENV):
        compose(CHECKERS, open_history(_case("seed-3-file", tmp_path)), OPTS)


class _Unsendable(stream.Judge):
    """A verdict the child cannot pickle (a lambda): this process must judge it instead."""

    cost = 0.01  # the cheapest: after history (to this process), it goes to the child
    ahead = False  # (a judge that reads the look-ahead's Facts stays in this process)
    kinds = frozenset({"ingress"})

    def __init__(self, opts: Mapping[str, Any], facts: stream.Facts) -> None:
        super().__init__(opts, facts)
        self.n = 0
        self.pid = os.getpid()

    def feed(self, events: list[dict[str, Any]]) -> None:
        self.n += len(events)

    def verdict(self, info: stream.Info) -> Any:
        return (self.n, os.getpid(), lambda: None)


def test_a_child_that_fails_is_replaced_by_a_serial_judgement(
    tmp_path: Path, forks: list[int]
) -> None:
    path = _case("seed-3-file", tmp_path)
    assert forked.halves({"odd": _Unsendable, "history": CHECKERS["history"].judge})[1] \
        == {"odd": _Unsendable}  # the child's group
    got = stream.judge_all({"odd": _Unsendable, "history": CHECKERS["history"].judge},
                           open_history(path), {})
    assert len(forks) == 1
    (n, pid, _), error = got["odd"]
    assert error is None and pid == os.getpid()  # judged again here, after the child failed
    assert n == sum(1 for e in open_history(path) if e["kind"] == "ingress") > 0
    assert got["history"] == (CHECKERS["history"](open_history(path), {}), None)  # serial
    assert list(got) == ["odd", "history"]
    _assert_reaped(forks[0])


def _assert_reaped(pid: int) -> None:
    """The child has ended and was waited for (no zombie, nothing left running)."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_bad_line_is_named_and_the_child_is_gone(tmp_path: Path, forks: list[int]) -> None:
    path = _case("seed-3-file", tmp_path)
    lines = Path(path).read_bytes().splitlines(keepends=True)
    lines[5] = b'{"index": 5, "kind": "deliver", oops}\n'
    Path(path).write_bytes(b"".join(lines))
    with pytest.raises(HistoryError, match="line 6"):
        compose(CHECKERS, open_history(path), OPTS)
    assert len(forks) == 1
    _assert_reaped(forks[0])


@pytest.mark.parametrize("name", ["seed-3-file", "seed-12-file", "seed-33-file", "rare-event"])
def test_judges_that_read_facts_only_in_their_verdicts_skip_the_look_ahead(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no judge that reads its Facts early, no scan runs and the Facts are what the pass
    saw: the same verdicts (a dead letter the byte scan cannot see included)."""
    from harness.history import HistoryFile

    late = {n: fn for n, fn in CHECKERS.items() if not getattr(fn.judge, "ahead", True)}
    assert {"causal", "trace", "latency", "history"} <= set(late)

    def no_scan(self: HistoryFile, kinds: frozenset[str]) -> Any:
        raise AssertionError("the look-ahead ran")

    monkeypatch.setattr(HistoryFile, "scan", no_scan)
    if name == "rare-event":
        path = tmp_path / "rare.jsonl"
        _write_rare(path)
    else:
        path = Path(_case(name, tmp_path))  # type: ignore[arg-type]
    got = _digest(compose(late, open_history(path), OPTS))
    assert got == {n: _recorded()[name][n] for n in late}
