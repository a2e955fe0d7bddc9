"""For tests of work split with a forked child (harness.forking): two processors whatever the
machine has, and every fork counted."""

from __future__ import annotations

import os

import pytest

from harness import forking


def count_forks(monkeypatch: pytest.MonkeyPatch, env: str) -> list[int]:
    """Two processors, ``env`` (the job's process-count variable) unset, and the children
    forked from now on, by pid. The split happens whatever threads earlier tests in this worker
    left idle (the child only computes and writes to its pipe); the one-thread rule itself is
    tested in tests/test_forking.py."""
    monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(forking, "can_fork", lambda: hasattr(os, "fork"))
    made: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return made
