"""Progress bars for long commands (rich, on stderr): counts, rate and time left.

Shown only when stderr is a terminal and the command is not printing ``--json``; otherwise every
call is a no-op, so CI logs and JSON consumers see nothing::

    with progress_bar("fuzz", total=500, enabled=not args.json) as bar:
        for ...:
            bar.advance()              # or bar.update(done, total=..., note="agent fraud")
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["Bar", "RateColumn", "progress_bar", "wanted"]


def wanted(json_output: bool, stream: Any = None) -> bool:
    """True when a bar should be drawn: not --json and stderr is a terminal."""
    stream = stream if stream is not None else sys.stderr
    return not json_output and bool(getattr(stream, "isatty", lambda: False)())


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:,.1f}/s", style="cyan")


class Bar:
    """One task of a progress display (does nothing when disabled)."""

    def __init__(self, progress: Progress | None, description: str, total: float | None) -> None:
        self._progress = progress
        self._description = description
        self._task = progress.add_task(description, total=total) if progress else None
        self._total = total
        self._drawn = 0.0  # when this bar last drew the display (without a refresh thread)

    def update(self, completed: float, *, total: float | None = None, note: str = "") -> None:
        """Set the count done (and the total, and a note after the description)."""
        if self._progress is None or self._task is None:
            return
        fields: dict[str, Any] = {"completed": completed}
        if total is not None:
            fields["total"] = self._total = total
        if note:
            fields["description"] = f"{self._description} {note}"
        self._progress.update(self._task, **fields)
        if not self._progress.live.auto_refresh:  # drawn here, at most ten times a second
            now = time.monotonic()
            if now - self._drawn >= 0.1 or completed == self._total:
                self._drawn = now
                self._progress.refresh()

    def advance(self, n: float = 1, *, note: str = "") -> None:
        """Count ``n`` more done (and replace the note after the description)."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)
            if note:
                self._progress.update(self._task, description=f"{self._description} {note}")

    def another(self, description: str, total: float | None) -> Bar:
        """A second bar in the same display (e.g. one per agent)."""
        return Bar(self._progress, description, total)

    def log(self, message: str) -> None:
        """A line above the bar (or on stderr when there is no bar)."""
        if self._progress is not None:
            self._progress.console.print(message, highlight=False)


@contextmanager
def progress_bar(description: str, *, total: float | None, enabled: bool,
                 console: Console | None = None, capture: bool = True,
                 thread: bool = True) -> Iterator[Bar]:
    """A bar with counts, rate and time left on stderr, or a silent stand-in.

    ``capture`` prints what the code writes to sys.stdout/sys.stderr above the bar; turn it
    off when something else decides where those writes go (the Pact verifier silences them).
    ``thread=False``: no refresh thread (the bar is drawn when it is updated), so the command
    may fork a child safely (harness.forking).
    """
    if not enabled:
        yield Bar(None, description, total)
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TaskProgressColumn(),
                        RateColumn(),
                        TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(),
                        TextColumn("left"),
                        console=console or Console(stderr=True, highlight=False),
                        transient=False, redirect_stdout=capture, redirect_stderr=capture,
                        auto_refresh=thread)
    with progress:
        yield Bar(progress, description, total)
