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


@pytest.mark.parametrize("size", [1, 3, 128])
def test_a_batch_of_lines_reads_as_line_by_line(tmp_path, size):
    """Whole batches of flat lines are parsed at once; a blank line, a line with over 200
    brackets (read by the standard library, depth checked) and a line nested too deep among
    them give what reading each line on its own gives: the same events, or the error naming
    the deep line."""
    import json

    from harness.history import open_history

    flat = [json.dumps({"kind": "note", "index": i, "time": 0.1 * i}) for i in range(9)]
    wide = json.dumps({"kind": "note", "index": 9, "time": 1.0, "xs": [[1]] * 150})
    lines = [*flat[:4], "", "   ", wide, *flat[4:]]
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    events = [e for chunk in open_history(path).chunks(size) for e in chunk]
    assert events == [json.loads(x) for x in lines if x.strip()]
    assert {e["kind"] for e in events} == {"note"}
    deep = json.dumps({"kind": "note", "index": 10, "time": 1.1, "x": [[[[[[1]]]]]]}).replace(
        "[[[[[[1]]]]]]", "[" * 250 + "1" + "]" * 250)
    path.write_text("\n".join([*flat, deep, *flat]) + "\n")
    with pytest.raises(HistoryError, match="line 10 is nested deeper than 200"):
        for _ in open_history(path).chunks(size):
            pass


def test_the_line_limit_comes_from_the_environment_at_each_read(tmp_path, monkeypatch):
    path = tmp_path / "history.jsonl"
    path.write_text('{"index": 0, "time": 0.0, "kind": "run_start", "pipeline": "p"}\n')
    assert len(read_history(path)) == 1
    monkeypatch.setenv("HARNESS_MAX_LINE_BYTES", "20")
    with pytest.raises(HistoryError, match="line 1 is longer than 20 bytes"):
        read_history(path)


@pytest.mark.parametrize("value", ["0", "-1", "64MB"])
def test_a_bad_line_limit_is_one_error_naming_the_variable(value, tmp_path, monkeypatch, capsys):
    from harness.cli import main

    path = tmp_path / "history.jsonl"
    path.write_text('{"index": 0, "time": 0.0, "kind": "run_start", "pipeline": "p"}\n')
    monkeypatch.setenv("HARNESS_MAX_LINE_BYTES", value)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "HARNESS_MAX_LINE_BYTES: must be a whole number of at least 1" in err
    assert "Traceback" not in err
