"""Work split with a forked child: what it returns comes back pickled through a pipe.

Used where one job is two independent halves (the checkers of a large history, an agent's fuzz
budget), so a machine's second processor takes one half. A child is forked only where that is
safe (``os.fork`` exists, and this process runs one thread: a fork copies only the calling
thread, and a lock another thread held would stay held in the child). The child never returns
into the caller's code: it leaves with ``os._exit`` (no atexit handlers, no flush of the
parent's buffers). A child that fails in any way gives None, and the caller does its half
itself, so the outcome never depends on the split.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from harness import envvars

__all__ = ["Child", "allowed", "both", "can_fork", "processes", "result", "start", "stop"]

A = TypeVar("A")
B = TypeVar("B")


def processes(env: str) -> int:
    """How many processes one job may use: the variable ``env`` if set (a whole number of at
    least 1, else InputError naming it), else 2 on a machine with two processors or more."""
    return envvars.count(env) or (2 if (os.cpu_count() or 1) >= 2 else 1)


def can_fork() -> bool:
    """Whether a child can be forked safely here (``os.fork``, one thread)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def allowed(env: str) -> bool:
    """Whether a job may split with a forked child: :func:`processes` (``env``) gives two or
    more, and :func:`can_fork`."""
    return processes(env) >= 2 and can_fork()


def both(mine: Callable[[], A], theirs: Callable[[], B], ok: Callable[[Any], bool]
         ) -> tuple[A, B]:
    """``(mine(), theirs())``, ``theirs`` in a forked child while this process runs ``mine``.
    If ``mine`` raises, the child is stopped; if the child fails or gives what ``ok`` refuses,
    ``theirs`` runs here, so the outcome never depends on the split."""
    child = start(theirs)
    try:
        first = mine()
    except BaseException:
        stop(child)
        raise
    got = result(child)
    return first, (cast(B, got) if ok(got) else theirs())


@dataclass
class Child:
    """A forked child computing a result (:func:`start`)."""

    pid: int
    pipe: int


def start(work: Callable[[], Any]) -> Child:
    """Fork a child that runs ``work()`` and sends back its pickled result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 1
        try:
            data = pickle.dumps(work(), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return Child(pid, read_end)


def result(child: Child) -> Any | None:
    """The child's result once it has ended, or None if it failed (killed, raised, or sent
    what cannot be unpickled). Waits for it."""
    try:
        with os.fdopen(child.pipe, "rb") as pipe:
            data = pipe.read()
    finally:
        _, status = os.waitpid(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        return pickle.loads(data)  # our own child's bytes
    except Exception:
        return None


def stop(child: Child) -> None:
    """End the child now (the caller is failing) and reap it."""
    try:
        os.close(child.pipe)
    except OSError:
        pass
    try:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
