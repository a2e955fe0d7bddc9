"""Progress bars: drawn on a terminal with counts, rate and time left; silent otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from harness.report.progress import progress_bar, wanted


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wanted_only_on_a_terminal_and_never_with_json() -> None:
    assert wanted(False, _Tty()) is True
    assert wanted(True, _Tty()) is False
    assert wanted(False, io.StringIO()) is False


def test_bar_shows_counts_rate_and_time_left() -> None:
    console = Console(file=_Tty(), force_terminal=True, width=140, color_system=None)
    with progress_bar("fuzz", total=3, enabled=True, console=console) as bar:
        for n in range(1, 4):
            bar.update(n, note="fraud")
        other = bar.another("fuzz ledger", 2)
        other.advance(2)
    text = console.file.getvalue()
    assert "fuzz fraud" in text and "3/3" in text and "fuzz ledger" in text and "2/2" in text
    assert "/s" in text and "elapsed," in text and "left" in text


def test_disabled_bar_writes_nothing() -> None:
    stream = _Tty()
    console = Console(file=stream, force_terminal=True)
    with progress_bar("x", total=5, enabled=False, console=console) as bar:
        bar.update(5)
        bar.another("y", 1).advance()
        bar.log("nothing")
    assert stream.getvalue() == ""


def test_a_bar_without_a_refresh_thread_is_drawn_as_it_is_updated() -> None:
    """``thread=False`` (harness fuzz): no thread, so the command may fork (harness.forking)."""
    import threading

    from harness import forking

    console = Console(file=_Tty(), force_terminal=True, width=140, color_system=None)
    before = threading.active_count()
    with progress_bar("fuzz", total=4, enabled=True, console=console, thread=False) as bar:
        assert threading.active_count() == before
        assert forking.can_fork() == (before == 1)
        for n in range(1, 5):
            bar.update(n, note="fraud")
        assert "4/4" in console.file.getvalue()  # the last count drawn before the end
