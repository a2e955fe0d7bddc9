"""A test seam: hold one delivery at a point of the runtime so a test can kill the process there.

Set ``HARNESS_TEST_HOLD_AT`` (JSON) in an agent process's environment::

    {"agent": "notification", "point": "committed", "after": 10, "marker": "/tmp/x/held"}

or a list of such objects (one per agent). The ``after``-th delivery of ``agent`` in this
process that reaches ``point`` (``committed``: the store has committed a fresh effect, not a
skipped duplicate, whose history line is not written yet; ``published``: the broker confirmed
a publish whose history line is not written yet) creates ``marker`` exclusively (so only one
process of a run ever holds), writes ``{"correlation_id", "what": effect key or message id}``
into it, and waits forever. The test waits for the file (an event, not a time) and SIGKILLs
the process while it holds. Meant for tests of crash gaps only: unset, nothing is held; only
agents in their own processes read it.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

__all__ = ["HOLD_ENV", "Hold", "hold_from_env"]

HOLD_ENV = "HARNESS_TEST_HOLD_AT"
POINTS = ("committed", "published")


class Hold:
    """Holds the ``after``-th delivery of ``agent`` reaching ``point`` (see the module)."""

    def __init__(self, agent: str, point: str, after: int, marker: str) -> None:
        if point not in POINTS:
            raise ValueError(f"{HOLD_ENV}: point must be one of {POINTS}, got {point!r}")
        self.agent, self.point, self.after, self.marker = agent, point, after, marker
        self.seen = 0

    async def at(self, point: str, agent: str, correlation_id: str, what: str) -> None:
        """Called at ``point``; holds forever when this is the planned one."""
        if point != self.point or agent != self.agent:
            return
        self.seen += 1
        if self.seen != self.after:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # held (and killed) once already in this run
        os.write(fd, json.dumps({"correlation_id": correlation_id, "what": what}).encode())
        os.close(fd)
        await asyncio.Event().wait()


def hold_from_env(agent: str) -> Hold | None:
    """The hold planned for ``agent`` in ``HARNESS_TEST_HOLD_AT``, if any."""
    raw = os.environ.get(HOLD_ENV)
    if not raw:
        return None
    specs: Any = json.loads(raw)
    for spec in specs if isinstance(specs, list) else [specs]:
        if spec.get("agent") == agent:
            return Hold(
                agent, str(spec.get("point")), int(spec.get("after", 1)), str(spec["marker"])
            )
    return None
