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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from harness.errors import HistoryError

__all__ = ["KINDS", "History", "Recorder", "b64", "parse_event", "read_history", "unb64"]

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


class Recorder:
    """Appends events to a JSON-lines file (or only to memory), flushing each line.

    Thread- and process-safe: each event is one ``os.write`` of a whole line to a file opened
    with ``O_APPEND`` (no user-space buffer, so it is on its way to disk as it happens), so
    agents in separate processes may share the file without interleaving lines. Each process
    then names itself with ``process``: ``index`` counts per process.

    Args:
        path: file to append to; ``None`` keeps events in memory only.
        keep: keep events in memory too (``events``), for in-process checking.
        enabled: when false, ``record`` does nothing (used to measure the recorder's cost).
        clock: monotonic clock; ``time.monotonic`` (as it is when the recorder is made) by
            default.
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
    ) -> None:
        self.process = process
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
        with self._lock:
            event: Event = {"index": self._index, "time": round(self.now(), 6), "kind": kind}
            if self.process is not None:
                event["process"] = self.process
            event.update({k: v for k, v in fields.items() if v is not None})
            self._index += 1
            if self._fd is not None:
                _write_all(self._fd, (_encode(event) + "\n").encode("utf-8"))
            if self.keep:
                self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` for the whole line (regular files take it whole); loop only if short."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
#: a line longer than this is refused before it is read whole (override: HARNESS_MAX_LINE_BYTES)
MAX_LINE_BYTES = int(os.environ.get("HARNESS_MAX_LINE_BYTES", str(64 * 1024 * 1024)))


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


def parse_event(raw: bytes, n: int, where: str) -> Event:
    """One history line (bytes, without its newline) as an event.

    orjson reads it (it also refuses invalid UTF-8 and nesting past 1024); what orjson refuses
    but the standard library reads (integers past 64 bits, NaN) is read as before.

    Raises:
        HistoryError: not JSON, not UTF-8, nested too deeply, or not an event (names line n).
    """
    try:
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
    if (raw.count(b"{") + raw.count(b"[") > MAX_DEPTH) and _depth(event) > MAX_DEPTH:
        raise HistoryError(f"line {n} is nested deeper than {MAX_DEPTH} levels", where=where)
    return event


def iter_lines(fh: IO[bytes], where: str) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without newline, ended by a newline) of a binary file, refusing a
    line longer than ``MAX_LINE_BYTES`` before reading it whole."""
    n = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        n += 1
        ended = line.endswith(b"\n")
        if not ended and len(line) > MAX_LINE_BYTES:
            raise HistoryError(f"line {n} is longer than {MAX_LINE_BYTES} bytes", where=where)
        yield n, (line[:-1] if ended else line), ended


def _parse(fh: IO[bytes], where: str) -> History:
    events: list[Event] = []
    truncated = False
    cut: HistoryError | None = None
    for n, raw, ended in iter_lines(fh, where):
        if cut is not None:  # a bad line that was not the last one
            raise cut
        if not raw.strip():
            continue
        try:
            events.append(parse_event(raw, n, where))
        except HistoryError as exc:
            if ended or not getattr(exc, "unparsable", False):
                raise
            cut = exc  # tolerated only if it is the last line (a writer died mid-line)
    if cut is not None:
        truncated = True
    return History(events, truncated=truncated, path=where)


def read_history(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> History:
    """Read a JSON-lines history, tolerating a truncated last line.

    Raises:
        HistoryError: the file is missing or a line other than a cut-off last one is bad.
    """
    if isinstance(source, (str, os.PathLike)):
        where = str(source)
        try:
            with open(source, "rb") as fh:
                return _parse(fh, where)
        except FileNotFoundError as exc:
            raise HistoryError("no such file", where=where) from exc
        except IsADirectoryError as exc:
            raise HistoryError("is a folder, not a history file", where=where) from exc
        except PermissionError as exc:
            raise HistoryError("cannot be read (permission denied)", where=where) from exc
    data = source.read()
    raw = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    return _parse(io.BytesIO(raw), "<stream>")
