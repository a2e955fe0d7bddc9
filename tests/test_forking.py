"""harness.forking: a child's result comes back through a pipe; a failed child gives None; no
fork beside a second thread; the process count from the environment, named when bad."""

from __future__ import annotations

import os
import threading

import pytest

from harness import forking
from harness.errors import InputError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this system")


def test_the_childs_result_comes_back() -> None:
    child = forking.start(lambda: {"pid": os.getpid(), "rows": list(range(50_000))})
    got = forking.result(child)
    assert got["pid"] != os.getpid() and got["rows"] == list(range(50_000))  # > a pipe's buffer


def test_a_child_that_raises_or_sends_what_cannot_be_pickled_gives_none() -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    assert forking.result(forking.start(boom)) is None
    assert forking.result(forking.start(lambda: lambda: None)) is None


def test_a_stopped_child_is_killed_and_reaped() -> None:
    gate = threading.Event()
    child = forking.start(lambda: gate.wait())  # never set in the child: it waits forever
    forking.stop(child)
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_no_fork_beside_a_second_thread() -> None:
    gate = threading.Event()
    other = threading.Thread(target=gate.wait)
    other.start()
    try:
        assert forking.can_fork() is False
    finally:
        gate.set()
        other.join()


@pytest.mark.parametrize(("value", "want"), [("", 2), ("1", 1), ("3", 3)])
def test_the_process_count(value: str, want: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_X_PROCESSES", value)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert forking.processes("HARNESS_X_PROCESSES") == want


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_process_count_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_X_PROCESSES", value)
    with pytest.raises(InputError, match="HARNESS_X_PROCESSES: must be a whole number"):
        forking.processes("HARNESS_X_PROCESSES")


def test_both_runs_the_second_half_here_when_the_child_fails_or_is_refused() -> None:
    assert forking.both(lambda: "mine", os.getpid, lambda got: True)[1] != os.getpid()
    # refused (a pid from the child): run here
    assert forking.both(lambda: "mine", os.getpid, lambda got: False) == ("mine", os.getpid())

    def boom() -> int:
        if os.getpid() != parent:
            raise RuntimeError("the child's half failed")
        return 7

    parent = os.getpid()
    assert forking.both(lambda: 1, boom, lambda got: got is not None) == (1, 7)


def test_both_stops_the_child_when_this_half_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[forking.Child] = []
    real = forking.start
    monkeypatch.setattr(forking, "start", lambda work: started.append(real(work)) or started[-1])
    gate = threading.Event()

    def fail() -> None:
        raise ValueError("mine failed")

    with pytest.raises(ValueError, match="mine failed"):
        forking.both(fail, gate.wait, lambda got: True)  # the child would wait forever
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0].pid, os.WNOHANG)  # killed and reaped
