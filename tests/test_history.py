"""The history recorder writes one flushed JSON line per event; the reader tolerates a cut."""

from __future__ import annotations

import pytest

from harness.errors import HistoryError
from harness.history import Recorder, read_history


def test_recorder_appends_flushed_lines_with_index_and_time(tmp_path):
    path = tmp_path / "h.jsonl"
    rec = Recorder(path)
    rec.record("publish", queue="q", message_id="m1")
    # flushed as it happens: readable before close
    assert read_history(path).events[0]["message_id"] == "m1"
    rec.record("ack", queue="q", message_id="m1")
    rec.close()
    events = read_history(path).events
    assert [e["index"] for e in events] == [0, 1]
    assert events[1]["time"] >= events[0]["time"]


def test_reader_tolerates_truncated_last_line(tmp_path):
    path = tmp_path / "h.jsonl"
    with Recorder(path) as rec:
        rec.record("note", text="a")
        rec.record("note", text="b")
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # cut mid-line, no trailing newline
    hist = read_history(path)
    assert hist.truncated and len(hist) == 1


def test_reader_rejects_corruption_in_the_middle(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"kind":"note","index":0}\n{oops\n{"kind":"note","index":2}\n')
    with pytest.raises(HistoryError, match="line 2"):
        read_history(path)


def test_unknown_kind_is_rejected(tmp_path):
    with pytest.raises(ValueError):
        Recorder().record("bogus")
    path = tmp_path / "h.jsonl"
    path.write_text('{"kind":"bogus"}\n')
    with pytest.raises(HistoryError, match="unknown event kind"):
        read_history(path)
