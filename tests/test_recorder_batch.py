"""``Recorder(batch=True)``: lines recorded on an event loop are written once per loop
iteration, in recording order, and never lost by history() or close()."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from harness.history import Recorder, read_history


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _record_three(rec: Recorder, tag: str) -> None:
    for i in range(3):
        rec.record("note", text=f"{tag}{i}")


def test_lines_of_one_iteration_are_written_together_after_it(tmp_path, monkeypatch):
    import harness.history as history

    writes: list[int] = []
    real = history.os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(data.count(b"\n"))
        return real(fd, data)

    monkeypatch.setattr(history.os, "write", counting)
    path = tmp_path / "h.jsonl"
    rec = Recorder(path, keep=False, batch=True)

    async def run() -> None:
        _record_three(rec, "a")
        assert path.read_bytes() == b""  # held until this iteration ends
        await asyncio.sleep(0)  # the loop runs its ready callbacks: the flush is one of them
        await asyncio.sleep(0)
        assert len(_lines(path)) == 3
        _record_three(rec, "b")

    asyncio.run(run())  # its shutdown runs the loop once more: the second flush
    rec.close()
    assert writes == [3, 3]  # one write per iteration, not one per line
    texts = [e["text"] for e in read_history(path)]
    assert texts == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_close_writes_what_is_held(tmp_path):
    path = tmp_path / "h.jsonl"
    rec = Recorder(path, keep=False, batch=True)
    loop = asyncio.new_event_loop()
    try:
        loop.call_soon(_record_three, rec, "c")  # schedules the flush for the next iteration
        loop.call_soon(loop.stop)  # which never comes
        loop.run_forever()
        assert _lines(path) == []
    finally:
        loop.close()
    rec.close()
    assert [e["text"] for e in read_history(path)] == ["c0", "c1", "c2"]


def test_history_writes_what_is_held_before_reading(tmp_path):
    path = tmp_path / "h.jsonl"
    rec = Recorder(path, keep=False, batch=True)

    async def run() -> list[str]:
        _record_three(rec, "x")
        return [e["text"] for e in rec.history()]

    assert asyncio.run(run()) == ["x0", "x1", "x2"]
    rec.close()


def test_a_line_recorded_off_the_loop_keeps_the_recording_order(tmp_path):
    path = tmp_path / "h.jsonl"
    rec = Recorder(path, keep=False, batch=True)

    async def run() -> None:
        _record_three(rec, "loop")
        other = threading.Thread(target=rec.record, args=("note",), kwargs={"text": "thread"})
        other.start()  # no loop runs there: it writes the held lines, then its own
        other.join()
        assert len(_lines(path)) == 4

    asyncio.run(run())
    rec.close()
    assert [e["text"] for e in read_history(path)] == ["loop0", "loop1", "loop2", "thread"]


def test_batched_and_unbatched_recorders_write_the_same_bytes(tmp_path):
    files = {}
    for batch in (False, True):
        path = tmp_path / f"h-{batch}.jsonl"
        rec = Recorder(path, keep=False, batch=batch, clock=lambda: 5.0)

        async def run(rec: Recorder = rec) -> None:
            for i in range(50):
                rec.record("deliver", agent="a", queue="q", delivery_count=1,
                           correlation_id=f"c{i}", message_id=f"m{i}")
                if i % 7 == 0:
                    await asyncio.sleep(0)

        asyncio.run(run())
        rec.close()
        files[batch] = path.read_bytes()
    assert files[True] == files[False] and files[True].count(b"\n") == 50


def test_a_long_iteration_writes_in_bounded_pieces(tmp_path, monkeypatch):
    import harness.history as history

    sizes: list[int] = []
    real = history.os.write

    def counting(fd: int, data: bytes) -> int:
        sizes.append(len(data))
        return real(fd, data)

    monkeypatch.setattr(history.os, "write", counting)
    path = tmp_path / "h.jsonl"
    rec = Recorder(path, keep=False, batch=True)

    async def run() -> None:
        for i in range(2000):  # about 200 KB in one iteration
            rec.record("note", text=f"{i:04d}" + "x" * 40)

    asyncio.run(run())
    rec.close()
    assert len(sizes) >= 3 and max(sizes) < history.HELD_BYTES + 200
    assert [e["text"][:4] for e in read_history(path)] == [f"{i:04d}" for i in range(2000)]
