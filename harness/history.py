"""The history: an append-only JSON-lines record of everything that happened in a run.

One event per line, flushed as it happens. Every event has:

- ``index``: position in the history (0, 1, ...), assigned by the recorder;
- ``time``: monotonic seconds since the recorder started (float);
- ``kind``: what happened (see ``KINDS``);
- optional identities: ``agent``, ``queue``, ``message_id``, ``correlation_id``,
  ``causation_id``, ``type``, ``schema_version``, ``idempotency_key``;
- any other fields the kind needs (``reason``, ``effect``, ``fault``, ``latency_ms``, ...).

Event kinds (the vocabulary checkers rely on):

- ``run_start`` {seed, pipeline, experiment?}; ``run_end`` {}
- ``ingress`` a workload input entered the pipeline {correlation_id, message_id, valid: bool,
  expect: str?}; the input's bytes in ``body`` (base64) when it is not valid JSON
- ``publish`` a message was published and confirmed {queue, envelope identities, body?}
- ``deliver`` a message was handed to an agent {queue, delivery_count}
- ``ack`` / ``nack`` {queue, requeue?}
- ``dead_letter`` {queue, reason, detail, correlation_id?, body (base64 of original bytes)}
- ``effect`` an effect was applied or skipped as a duplicate {effect, key, applied: bool, data?}
- ``emit`` an agent emitted an envelope (before publish) {envelope identities}; for a black
  box, its ``basic.publish`` as the tap saw it leave (``source: tap``)
- ``intent`` an agent process is about to commit an effect {of: effect, effect, key, outcome?,
  data?} or publish {of: publish, envelope identities}; the matching ``effect``/``publish`` line
  follows, naming the intent's index in ``intent``, unless the process dies first (only agents
  in their own processes write intents)
- ``outcome`` a terminal outcome for a correlation {outcome: completed|declined|dead_lettered}
- ``fallback`` an agent used its fallback {dependency, reason}
- ``handled`` an agent finished a delivery {latency_ms}
- ``agent_start`` / ``agent_stop`` / ``agent_crash`` {agent, reason?}
- ``fault_start`` / ``fault_end`` {fault, target, params}
- ``snapshot`` end-of-run state read back from a store {store, effects: [...], ledger: {...}}
- ``note`` free-form
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
import time
from asyncio import _get_running_loop  # the loop of this thread, or None (never raises)
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import orjson

from harness.envvars import count
from harness.errors import HistoryError
from harness.fastjson import ascii_dumps, exact_json

__all__ = ["KINDS", "History", "HistoryFile", "Recorder", "b64", "open_history", "parse_event",
           "read_history", "unb64"]

KINDS = frozenset(
    {
        "run_start", "run_end", "ingress", "publish", "deliver", "ack", "nack", "dead_letter",
        "effect", "emit", "outcome", "fallback", "handled", "agent_start", "agent_stop",
        "agent_crash", "fault_start", "fault_end", "note", "snapshot", "intent",
    }
)

Event = dict[str, Any]

#: json.dumps(event, separators=(",", ":"), default=str) without building an encoder per event
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def b64(data: bytes) -> str:
    """Encode bytes for a history line."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode bytes stored with :func:`b64`."""
    return base64.b64decode(text.encode("ascii"))


#: ``batch`` writes what it holds once it holds this much, even mid-iteration (an iteration of
#: the memory broker can record thousands of lines; joining them all made megabyte buffers
#: that fragmented the heap: a 200,000-input run peaked at 1.7 times a 50,000-input one)
HELD_BYTES = 64 * 1024


class Recorder:
    """Appends events to a JSON-lines file (or only to memory) as they happen.

    Thread- and process-safe: each event is one ``os.write`` of a whole line (``batch``: of the
    whole lines of one loop iteration) to a file opened with ``O_APPEND``, so agents in separate
    processes may share the file without interleaving lines. Each process then names itself
    with ``process``: ``index`` counts per process.

    Args:
        path: file to append to; ``None`` keeps events in memory only.
        keep: keep events in memory too (``events``), for in-process checking. Runs recording
            to a file pass ``keep=False``: memory then stays flat however long the run, and
            :meth:`history` streams the file back for the checkers.
        enabled: when false, ``record`` does nothing (used to measure the recorder's cost).
        clock: monotonic clock; ``time.monotonic`` (as it is when the recorder is made) by
            default.
        batch: lines recorded on a thread running an event loop are held and written together,
            one ``os.write`` per loop iteration (scheduled with ``call_soon``; at most
            :data:`HELD_BYTES` at a time) rather than one per event; :meth:`history`,
            :meth:`close` and a line recorded off any loop write what is held first, so the
            file's order is the recording order. For a process that owns its run and closes
            the recorder (``harness run``, an in-process chaos run): a SIGKILL then loses at
            most the lines of the iteration it cut. Agents in their own processes, whose lines
            must be on their way to disk before each effect, leave it off.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        keep: bool = True,
        enabled: bool = True,
        clock: Any = None,
        origin: float | None = None,
        process: str | None = None,
        batch: bool = False,
    ) -> None:
        self.process = process
        self.batch = batch
        self._held: list[bytes] = []  # batch: lines waiting for this iteration's write
        self._held_bytes = 0
        self.path = Path(path) if path is not None else None
        self.keep = keep
        self.enabled = enabled
        # looked up now, not at import: a simulated run (harness.sim) pins time.monotonic
        self._clock = clock or time.monotonic
        self._origin = self._clock() if origin is None else origin
        self._lock = threading.Lock()
        self._index = 0
        self.events: list[Event] = []
        #: called with each event after it is recorded (e.g. to track settled correlations)
        self.listeners: list[Any] = []
        self._fd: int | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @property
    def origin(self) -> float:
        """The clock reading that is time 0 of this history."""
        return self._origin

    def now(self) -> float:
        """Seconds since the recorder started."""
        return self._clock() - self._origin

    def record(self, kind: str, **fields: Any) -> Event | None:
        """Append one event and return it (``None`` when recording is disabled)."""
        if not self.enabled:
            return None
        if kind not in KINDS:
            raise ValueError(f"unknown history event kind {kind!r}")
        # placeholders fix the key order: index, time, kind, process, then the fields
        event: Event = {"index": 0, "time": 0.0, "kind": kind}
        if self.process is not None:
            event["process"] = self.process
        # plain: every value one orjson writes exactly as the standard library does
        types = set(map(type, fields.values()))  # one C-level pass over the values
        plain = types <= _SCALARS or _plain(fields.values())
        if _NONE in types:
            for key, value in fields.items():
                if value is not None:
                    event[key] = value
        else:
            event.update(fields)
        with self._lock:
            event["index"] = self._index
            event["time"] = round(self._clock() - self._origin, 6)
            self._index += 1
            if self._fd is not None:
                line = _line(event, plain)
                loop = _get_running_loop() if self.batch else None
                if loop is not None:
                    self._held.append(line)
                    self._held_bytes += len(line)
                    if len(self._held) == 1:
                        loop.call_soon(self.flush)
                    elif self._held_bytes >= HELD_BYTES:  # a long iteration: write now
                        self._write_held()
                else:
                    self._write_held()  # any lines held on a loop come first
                    _write_all(self._fd, line)  # one write of the whole line
            if self.keep:
                self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    def flush(self) -> None:
        """Write the lines ``batch`` holds (a no-op without any)."""
        with self._lock:
            self._write_held()

    def _write_held(self) -> None:  # with the lock held
        if self._held and self._fd is not None:
            held, self._held, self._held_bytes = self._held, [], 0
            _write_all(self._fd, b"".join(held))

    def history(self) -> History | HistoryFile:
        """What was recorded, to judge: the kept events, else the file (streamed)."""
        self.flush()
        if self.keep or self.path is None:
            return History(self.events, path=str(self.path) if self.path else None)
        return HistoryFile(self.path)

    def close(self) -> None:
        """Write what is held and close the file."""
        with self._lock:
            self._write_held()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: types of field values written alike by orjson and the standard library, with no check
_SCALARS = frozenset({str, int, bool, type(None)})
_NONE = type(None)


def _plain(values: Any) -> bool:
    """Whether orjson writes every value of an event as the standard library does (finite
    floats, exact JSON types: :func:`exact_json`)."""
    for value in values:
        t = type(value)
        if t is float:
            if value - value != 0:  # NaN or infinite
                return False
        elif t is not str and t is not int and t is not bool and value is not None \
                and not exact_json(value, floats=True):
            return False
    return True


def _line(event: Event, plain: bool) -> bytes:
    """One history line: orjson's bytes when they are the standard library's (plain values,
    ASCII but DEL: the standard library escapes the rest), else ``_encode``'s. The values read
    back are the same either way (a float may be written 1e-5 rather than 1e-05)."""
    line = ascii_dumps(event, orjson.OPT_APPEND_NEWLINE) if plain else None
    return line if line is not None else (_encode(event) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` for the whole data (regular files take it whole); loop only if short."""
    written = os.write(fd, data)
    if written < len(data):  # the disk is full, or a signal cut the write
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


class _Then:
    """A history followed by a few more events (e.g. a snapshot taken before the run ends)."""

    def __init__(self, history: Any, extra: list[Event]) -> None:
        self.history, self.extra = history, extra

    def chunks(self, size: int = 4096) -> Iterator[list[Event]]:
        from harness.checkers.stream import chunks

        yield from chunks(self.history, size)
        if self.extra:
            yield self.extra

    def __iter__(self) -> Iterator[Event]:
        return (e for chunk in self.chunks() for e in chunk)


def then(history: Any, extra: list[Event]) -> Any:
    """``history`` followed by the events ``extra``, without copying it."""
    return _Then(history, extra)


class History:
    """A read history: the events plus what the reader noticed about the file.

    Attributes:
        events: the events, in file order.
        truncated: true when the last line was cut short (and dropped).
        path: where it came from, if a file.
    """

    def __init__(self, events: list[Event], *, truncated: bool = False, path: str | None = None):
        self.events = events
        self.truncated = truncated
        self.path = path

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of_kind(self, *kinds: str) -> Iterator[Event]:
        """Events whose kind is one of ``kinds``."""
        wanted = set(kinds)
        return (e for e in self.events if e.get("kind") in wanted)


#: an event nested deeper than this is refused (the harness writes a handful of levels)
MAX_DEPTH = 200
#: a line longer than this is refused before it is read whole (HARNESS_MAX_LINE_BYTES sets it)
MAX_LINE_BYTES = 64 * 1024 * 1024


def max_line_bytes() -> int:
    """The line limit: ``HARNESS_MAX_LINE_BYTES`` (read at each use: a bad value is one error
    naming it, not a failed import), else :data:`MAX_LINE_BYTES`."""
    return count("HARNESS_MAX_LINE_BYTES") or MAX_LINE_BYTES


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if d > MAX_DEPTH:
                return d
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, (dict, list)))
    return deepest


def _bracketed(raw: bytes) -> bool:
    """More opening brackets than ``MAX_DEPTH``: possibly nested too deep for orjson."""
    return raw.count(b"{") + raw.count(b"[") > MAX_DEPTH


def parse_event(raw: bytes, n: int, where: str) -> Event:
    """One history line (bytes, without its newline) as an event.

    orjson reads it (it also refuses invalid UTF-8 and nesting past 1024); what orjson refuses
    but the standard library reads (integers past 64 bits, NaN) is read as before.

    A line with more than ``MAX_DEPTH`` brackets may be nested deeply: orjson (3.8) crashes the
    process (SIGSEGV) on ~100,000 nested objects, so such a line goes to the standard library,
    whose RecursionError is caught.

    Raises:
        HistoryError: not JSON, not UTF-8, nested too deeply, or not an event (names line n).
    """
    try:
        if _bracketed(raw):
            raise orjson.JSONDecodeError("many brackets: read by the standard library", "", 0)
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            err = HistoryError(f"line {n} is not UTF-8 (byte {exc.start})", where=where)
            err.unparsable = True  # type: ignore[attr-defined]
            raise err from None
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            err = HistoryError(f"line {n} is not JSON ({exc.msg} at column {exc.colno})",
                               where=where)
            err.unparsable = True  # type: ignore[attr-defined]
            raise err from None
        except RecursionError:
            raise HistoryError(f"line {n} is nested deeper than {MAX_DEPTH} levels",
                               where=where) from None
    if not isinstance(event, dict) or "kind" not in event:
        raise HistoryError(f"line {n} is not a history event (no 'kind')", where=where)
    kind = event["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise HistoryError(f"line {n} has unknown event kind {kind!r:.80}", where=where)
    if _bracketed(raw) and _depth(event) > MAX_DEPTH:
        raise HistoryError(f"line {n} is nested deeper than {MAX_DEPTH} levels", where=where)
    return event


#: each kind's name -> the one str object of that name (what a read event's ``kind`` holds)
_KIND_NAMES = {sys.intern(k): sys.intern(k) for k in KINDS}

_KIND = itemgetter("kind")

#: bytes read at a time when streaming a history
BLOCK = 1 << 20


def _blocks(fh: IO[bytes], where: str) -> Iterator[tuple[list[bytes], bytes | None]]:
    """The file as (whole lines, each with its newline, None) per block read, then ([], the
    unended last line) if the file does not end with a newline. A line longer than
    :func:`max_line_bytes` is refused before it is read whole. (``readlines`` finds the newlines
    with memchr, four times faster than ``split``.)"""
    limit = max_line_bytes()
    pieces: list[bytes] = []  # the start of a line that spans blocks
    held = 0
    n = 0
    while True:
        block = fh.read(BLOCK)
        if not block:
            break
        cut = block.rfind(b"\n")
        if cut < 0:
            pieces.append(block)
            held += len(block)
            if held > limit:
                raise HistoryError(f"line {n + 1} is longer than {limit} bytes", where=where)
            continue
        head = block[:cut + 1]
        if pieces:
            pieces.append(head)
            head = b"".join(pieces)
        lines = io.BytesIO(head).readlines()
        if len(head) > limit:  # else no line in it can be
            for i, raw in enumerate(lines):
                if len(raw) - 1 > limit:
                    raise HistoryError(f"line {n + i + 1} is longer than {limit} bytes",
                                       where=where)
        n += len(lines)
        yield lines, None
        tail = block[cut + 1:]
        pieces, held = ([tail], len(tail)) if tail else ([], 0)
    if pieces:
        yield [], b"".join(pieces)


class _Reading:
    """State of one read of a history file (whether its last line was cut short)."""

    def __init__(self) -> None:
        self.truncated = False


def _event_chunks(fh: IO[bytes], where: str, state: _Reading,
                  size: int = 4096) -> Iterator[list[Event]]:
    """The events of a history file in lists of at most ``size``; a bad line raises (named),
    except an unparsable last line without a newline (a writer died mid-line): dropped, and
    ``state.truncated`` set."""
    n = 0
    cut: list[HistoryError] = []
    for lines, last in _blocks(fh, where):
        if last is not None:
            lines = [last]
        for at in range(0, len(lines), size):
            batch = lines[at:at + size]
            events = None if last is not None else _plain_batch(batch)
            if events is None:
                events = _lines(batch, n, where, last is not None, cut)
            n += len(batch)
            if events:
                yield events
    state.truncated = bool(cut)


def _plain_batch(batch: list[bytes]) -> list[Event] | None:
    """The events of whole lines, or None when any needs a closer look (:func:`_lines`): a
    line that is not an event, or one with more than ``MAX_DEPTH`` brackets (it may be too
    deep for orjson). Each event's kind is made the one str of its name (:data:`_KIND_NAMES`),
    which the checkers compare by identity."""
    # a line of at most MAX_DEPTH bytes, or with at most its opening bracket, is not deep
    # (memchr finds that fast)
    for raw in [raw for raw in batch if len(raw) > MAX_DEPTH
                and (b"[" in raw or raw.find(b"{", 1) >= 0)]:
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
            return None
    loads = orjson.loads
    try:
        events = [loads(raw) for raw in batch]
        # every line an object with a kind (else TypeError, KeyError), each a known name
        names = list(map(_KIND_NAMES.get, map(_KIND, events)))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if None in names:
        return None
    for e, name in zip(events, names, strict=True):
        e["kind"] = name
    return events


def _lines(batch: list[bytes], n: int, where: str, last: bool,
           cut: list[HistoryError]) -> list[Event]:
    """The events of ``batch`` (lines ``n + 1``...) one line at a time; a bad line raises
    (named), except an unparsable ``last`` line (a writer died mid-line): put in ``cut``."""
    loads, decode_error, kinds = orjson.loads, orjson.JSONDecodeError, _KIND_NAMES
    out: list[Event] = []
    for raw in batch:
        n += 1
        if cut:  # a bad line that was not the last one
            raise cut[0]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        try:
            # a line with at most its opening bracket is flat (memchr finds that fast); one
            # with many may be too deep for orjson: parse_event reads it safely
            if (raw.find(b"[") >= 0 or raw.find(b"{", 1) >= 0) and _bracketed(raw):
                raise decode_error("many brackets", "", 0)
            event = loads(raw)
        except decode_error:
            if not raw.strip():
                continue
            try:
                event = parse_event(raw, n, where)
            except HistoryError as exc:
                if not last or not getattr(exc, "unparsable", False):
                    raise
                cut.append(exc)
                continue
        else:
            kind = event.get("kind") if type(event) is dict else None
            name = kinds.get(kind) if type(kind) is str else None
            if name is None:
                event = parse_event(raw, n, where)  # raises the named error
            else:
                event["kind"] = name
        out.append(event)
    return out


def _parse(fh: IO[bytes], where: str) -> History:
    state = _Reading()
    events = [e for chunk in _event_chunks(fh, where, state) for e in chunk]
    return History(events, truncated=state.truncated, path=where)


def _open(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError as exc:
        raise HistoryError("no such file", where=path) from exc
    except IsADirectoryError as exc:
        raise HistoryError("is a folder, not a history file", where=path) from exc
    except PermissionError as exc:
        raise HistoryError("cannot be read (permission denied)", where=path) from exc


class HistoryFile:
    """A history read from its file as it is used, never held whole (any size).

    Iterating it streams the file again each time (one parsed chunk in memory at a time);
    :meth:`chunks` gives the events in lists. ``truncated`` is known once a pass has reached
    the end. ``events`` reads the whole history into a list (for small ones only).

    Raises:
        HistoryError: when a pass meets a bad line (named), like :func:`read_history`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        _open(self.path).close()  # a missing or unreadable file is refused now
        self.truncated = False
        self._len: int | None = None

    def chunks(self, size: int = 4096) -> Iterator[list[Event]]:
        """The events in lists of about ``size``, read from the file now."""
        state = _Reading()
        count = 0
        with _open(self.path) as fh:
            for chunk in _event_chunks(fh, self.path, state, size):
                count += len(chunk)
                yield chunk
        self.truncated = state.truncated
        self._len = count

    def __iter__(self) -> Iterator[Event]:
        return (e for chunk in self.chunks() for e in chunk)

    def __len__(self) -> int:
        if self._len is None:
            for _ in self.chunks():
                pass
        assert self._len is not None
        return self._len

    @property
    def events(self) -> list[Event]:
        return list(self)

    def of_kind(self, *kinds: str) -> Iterator[Event]:
        """Events whose kind is one of ``kinds``."""
        wanted = set(kinds)
        return (e for e in self if e.get("kind") in wanted)

    def scan(self, kinds: frozenset[str]) -> tuple[list[Event], list[Event]]:
        """A quick look-ahead: (the events of ``kinds``, the first five events), found by
        searching the bytes for the kinds' names and parsing only those lines. Bad lines are
        skipped here (a full pass names them)."""
        pattern = [k.encode() for k in sorted(kinds)]
        found: list[Event] = []
        head: list[Event] = []
        limit = max_line_bytes()
        with _open(self.path) as fh:
            rest = b""
            while True:
                block = fh.read(BLOCK)
                data = rest + block if rest else block
                if not block:
                    _scan_lines(data, 0, len(data), pattern, kinds, found, head)
                    break
                end = data.rfind(b"\n")
                if end < 0:
                    rest = data if len(data) <= limit else b""
                    continue
                _scan_lines(data, 0, end, pattern, kinds, found, head)
                rest = data[end + 1:]
        return found, head


def _scan_lines(data: bytes, start: int, end: int, pattern: list[bytes],
                kinds: frozenset[str], found: list[Event], head: list[Event]) -> None:
    pos = start
    while len(head) < 5 and pos < end:
        stop = data.find(b"\n", pos, end)
        stop = end if stop < 0 else stop
        event = _try_parse(data[pos:stop])
        if event is not None:
            head.append(event)
        pos = stop + 1
    starts: set[int] = set()
    for needle in pattern:
        at = data.find(needle, start, end)
        while at >= 0:
            line_start = data.rfind(b"\n", start, at) + 1
            starts.add(line_start)
            stop = data.find(b"\n", at, end)
            if stop < 0:
                break
            at = data.find(needle, stop + 1, end)
    for line_start in sorted(starts):
        stop = data.find(b"\n", line_start, end)
        event = _try_parse(data[line_start:end if stop < 0 else stop])
        if event is not None and event.get("kind") in kinds:
            found.append(event)


def _try_parse(raw: bytes) -> Event | None:
    if not raw.strip():
        return None
    try:
        return parse_event(raw, 0, "")
    except HistoryError:
        return None


def open_history(path: str | os.PathLike[str]) -> HistoryFile:
    """A history file to stream (see :class:`HistoryFile`); HistoryError if it is missing."""
    return HistoryFile(path)


def read_history(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> History:
    """Read a JSON-lines history, tolerating a truncated last line.

    Raises:
        HistoryError: the file is missing or a line other than a cut-off last one is bad.
    """
    if isinstance(source, (str, os.PathLike)):
        where = str(source)
        with _open(where) as fh:
            return _parse(fh, where)
    data = source.read()
    raw = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    return _parse(io.BytesIO(raw), "<stream>")
