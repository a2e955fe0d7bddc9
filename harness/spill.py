"""Indexes that move to disk past a bound, so a long run is judged in bounded memory.

A :class:`SpillDict` is a plain dict while it holds at most ``bound`` keys (default
:func:`default_bound`: 20,000 in a run, 100,000 when a file is checked, or
``HARNESS_SPILL_KEYS``). Past that, its entries move into a private temporary SQLite database (the
stdlib ``sqlite3``; SQLite deletes the file when the connection closes) and the dict starts
empty again, so memory holds at most ``bound`` entries however long the run. Values written for
one key at different times are combined by the index's ``fold`` (:func:`first`, :func:`last`,
:func:`add`, :func:`union` or any ``(old, new) -> value``); every read (``get``, ``in``,
``items``) sees the combined value, and ``items`` yields the keys in the order they were first
written, as a dict does. Small indexes never touch the disk.

Past the bound, keys must be what JSON gives (str, int, float, bool, None) or tuples of them;
equal keys (1, 1.0, True) are one key, as in a dict. Another key (NaN, another type) raises
TypeError there, so a judge that cannot spill says so instead of guessing.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from harness import envvars

__all__ = ["BOUND", "CHECK_BOUND", "SpillDict", "add", "checking", "default_bound", "first",
           "in_check", "last", "union"]

#: keys an index holds in memory before they move to disk, in a run (a soak holds its other
#: state too, for hours)
BOUND = 20_000
#: the same when a history file is checked on its own (harness check): there the indexes that
#: never move (causal, trace) outweigh these, so moving them would save little memory for much
#: CPU (issue 17: at 1,000,000 events, 5% less memory for 35% more time)
CHECK_BOUND = 100_000
ENV = "HARNESS_SPILL_KEYS"
#: keys asked of the disk in one query (batched reads: :meth:`SpillDict.get_many`)
BATCH = 500

_checking = False


def default_bound() -> int:
    """The bound of a new index: ``HARNESS_SPILL_KEYS`` if set, else :data:`CHECK_BOUND`
    inside :func:`checking`, else :data:`BOUND`."""
    return envvars.count(ENV) or (CHECK_BOUND if _checking else BOUND)


def in_check() -> bool:
    """Whether a history file is being checked on its own (inside :func:`checking`)."""
    return _checking


@contextmanager
def checking() -> Iterator[None]:
    """A history file checked on its own (harness check), not a run's summary: indexes made
    inside hold up to :data:`CHECK_BOUND` keys in memory, and a large file is judged on two
    processes (harness.checkers.forked)."""
    global _checking
    was, _checking = _checking, True
    try:
        yield
    finally:
        _checking = was


_MISSING: Any = object()
_INT64 = (-(2**63), 2**63 - 1)


def first(old: Any, new: Any) -> Any:
    """The value written first wins."""
    return old


def last(old: Any, new: Any) -> Any:
    """The value written last wins."""
    return new


def add(old: Any, new: Any) -> Any:
    """Values add up (counters)."""
    return old + new


def union(old: Any, new: Any) -> Any:
    """One member kept as itself, several as a set: the union (``old`` may be updated)."""
    if type(old) is set:
        if type(new) is set:
            old |= new
        else:
            old.add(new)
        return old
    if type(new) is set:
        return {old} | new
    return old if old == new else {old, new}


def _norm(key: Any) -> Any:
    """A key with equal numbers made one (True, 1 and 1.0 are one dict key)."""
    t = type(key)
    if t is str or t is int or key is None:
        return key
    if t is bool:
        return int(key)
    if t is float:
        if key != key:
            raise TypeError("a NaN key cannot be moved to disk")
        return int(key) if key.is_integer() else key
    if t is tuple:
        return tuple(_norm(k) for k in key)
    raise TypeError(f"a {t.__name__} key cannot be moved to disk")


def _enc(key: Any) -> str | bytes:
    """The stored form of a key: equal keys, equal forms (an ASCII str is itself, as TEXT;
    anything else its normalised repr, as a BLOB: the two never compare equal in SQLite)."""
    if type(key) is str and key.isascii():
        return key
    return repr(_norm(key)).encode("utf-8", "surrogatepass")


def _dump(value: Any) -> Any:
    if value is None or (type(value) is str and value.isascii()):
        return value
    if type(value) is int and _INT64[0] <= value <= _INT64[1]:
        return value
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _load(value: Any) -> Any:
    return pickle.loads(value) if type(value) is bytes else value


class SpillDict:
    """A dict that moves to disk past ``bound`` keys (module docstring). Write with
    :meth:`put` (combined with what the key holds by ``fold``)."""

    def __init__(self, fold: Callable[[Any, Any], Any] = first, bound: int | None = None
                 ) -> None:
        self.fold = fold
        self.bound = bound or default_bound()
        self.mem: dict[Any, Any] = {}
        self._db: sqlite3.Connection | None = None
        self._indexed = False

    @property
    def spilled(self) -> bool:
        """Whether some entries are on disk."""
        return self._db is not None

    def put(self, key: Any, value: Any) -> None:
        """Write ``value`` under ``key`` (folded into what the key holds)."""
        mem = self.mem
        old = mem.get(key, _MISSING)
        mem[key] = value if old is _MISSING else self.fold(old, value)
        if len(mem) > self.bound:
            self.spill()

    def get(self, key: Any, default: Any = None) -> Any:
        got = self.mem.get(key, _MISSING)
        if self._db is None or (got is not _MISSING and self.fold is last):
            return default if got is _MISSING else got
        acc = _MISSING
        for (value,) in self._read("SELECT val FROM r WHERE key = ? ORDER BY rowid",
                                   (_enc(key),)):
            acc = _load(value) if acc is _MISSING else self.fold(acc, _load(value))
        if got is not _MISSING:
            acc = got if acc is _MISSING else self.fold(acc, got)
        return default if acc is _MISSING else acc

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """{key: what ``get`` gives} for those of ``keys`` the index holds, asked of the disk
        in batches (one query per :data:`BATCH` keys, not one per key)."""
        mem, fold = self.mem, self.fold
        unique = list(dict.fromkeys(keys))
        if self._db is None:
            return {k: mem[k] for k in unique if k in mem}
        forms = {_enc(k): k for k in unique if fold is not last or k not in mem}
        out: dict[Any, Any] = {}
        todo = list(forms)
        for i in range(0, len(todo), BATCH):
            part = todo[i : i + BATCH]
            marks = ",".join("?" * len(part))
            for form, value in self._read(
                    f"SELECT key, val FROM r WHERE key IN ({marks}) ORDER BY rowid", part):
                k = forms[form]
                old = out.get(k, _MISSING)
                out[k] = _load(value) if old is _MISSING else fold(old, _load(value))
        for k in unique:  # what memory holds was written after what the disk holds
            got = mem.get(k, _MISSING)
            if got is not _MISSING:
                old = out.get(k, _MISSING)
                out[k] = got if old is _MISSING or fold is last else fold(old, got)
        return out

    def lookup(self, pairs: Iterable[tuple[Any, Any]], default: Any = None
               ) -> Iterator[tuple[Any, Any, Any]]:
        """(key, value, what this index holds for key, else ``default``) for each (key, value)
        of ``pairs`` (another index's ``items()``: a join), read in batches (:meth:`get_many`)."""
        it = iter(pairs)
        while batch := list(islice(it, BATCH)):
            found = self.get_many([k for k, _ in batch])
            for k, v in batch:
                yield k, v, found.get(k, default)

    def __getitem__(self, key: Any) -> Any:
        got = self.get(key, _MISSING)
        if got is _MISSING:
            raise KeyError(key)
        return got

    def __contains__(self, key: Any) -> bool:
        if key in self.mem:
            return True
        return self._db is not None and self._read(
            "SELECT 1 FROM r WHERE key = ? LIMIT 1", (_enc(key),)).fetchone() is not None

    def absent(self, keys: Iterable[Any]) -> set[Any]:
        """The keys (of ``keys``) the index does not hold, asked of the disk in batches."""
        mem = self.mem
        out = {k for k in keys if k not in mem}
        if self._db is None or not out:
            return out
        forms = {_enc(k): k for k in out}
        todo = list(forms)
        for i in range(0, len(todo), BATCH):
            part = todo[i : i + BATCH]
            marks = ",".join("?" * len(part))
            for (form,) in self._read(f"SELECT DISTINCT key FROM r WHERE key IN ({marks})",
                                      part):
                out.discard(forms[form])
        return out

    def __len__(self) -> int:
        if self._db is None:
            return len(self.mem)
        self.spill()
        return int(self._read("SELECT count(DISTINCT key) FROM r").fetchone()[0])

    def __bool__(self) -> bool:
        return bool(self.mem) or self._db is not None

    def items(self) -> Iterator[tuple[Any, Any]]:
        """(key, combined value) in the order the keys were first written."""
        if self._db is None:
            yield from self.mem.items()
            return
        self.spill()
        fold = self.fold
        key: Any = _MISSING
        acc: Any = _MISSING
        original: Any = None
        rows = self._read(  # each key's rows, the keys in the order of their first row
            "SELECT r.key, r.orig, r.val FROM r JOIN (SELECT key, min(rowid) AS first FROM r "
            "GROUP BY key) f ON f.key = r.key ORDER BY f.first, r.rowid")
        for form, orig, value in rows:
            if acc is not _MISSING and form == key:
                acc = fold(acc, _load(value))
                continue
            if acc is not _MISSING:
                yield original, acc
            key, acc = form, _load(value)
            original = form if orig is None else pickle.loads(orig)
        if acc is not _MISSING:
            yield original, acc

    def keys(self) -> Iterator[Any]:
        return (k for k, _ in self.items())

    def values(self) -> Iterator[Any]:
        return (v for _, v in self.items())

    __iter__ = keys

    def spill(self) -> None:
        """Move every entry held in memory to disk (then memory holds none): appended as
        rows in the order the keys were first written, made as SQLite takes them."""
        mem = self.mem
        if not mem:
            return
        forms = [_enc(k) for k in mem]  # a TypeError here leaves the index as it was
        db = self._db or self._open()
        db.execute("BEGIN")
        db.executemany("INSERT INTO r VALUES (?, ?, ?)",
                       ((form, None if form is k else pickle.dumps(k), _dump(v))
                        for form, (k, v) in zip(forms, mem.items(), strict=True)))
        db.execute("COMMIT")
        self.mem = {}

    def _read(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        """Run a query; the index on the keys is made before the first (an index written
        only at the end costs one sort, not a random B-tree insert per row)."""
        assert self._db is not None
        if not self._indexed:
            self._db.execute("CREATE INDEX r_key ON r (key)")
            self._indexed = True
        return self._db.execute(sql, args)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect("", isolation_level=None)  # "": a private temporary file
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -2048"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("CREATE TABLE r (key NOT NULL, orig BLOB, val)")  # one row per write
        self._db = db
        return db

    def close(self) -> None:
        """Drop the disk part (the temporary file goes with it)."""
        if self._db is not None:
            self._db.close()
            self._db = None
