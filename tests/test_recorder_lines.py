"""The recorder's fast line encoder (orjson) writes what the standard library wrote: the same
bytes for JSON-typed ASCII values, and the standard library's own line for everything else."""

from __future__ import annotations

import enum
import json
import math
import uuid
from dataclasses import dataclass

import pytest

from harness.history import Recorder, read_history


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


@dataclass
class Point:
    x: int


def _stdlib(event: dict) -> bytes:
    return (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()


FIELDS = [
    {"queue": "q", "delivery_count": 1, "applied": True, "latency_ms": 1.25},
    {"data": {"payment_id": "p-1", "amount_cents": 100, "tags": ["a", None, 2.5, False]}},
    {"data": ("a", 1)},  # a tuple: a JSON array both ways
    {"detail": "caf\u00e9 \u2028 \U0001F600"},  # non-ASCII: escaped like the standard library
    {"detail": "lone \udcff surrogate"},
    {"detail": "\x00\x1f\x7f\"\\ controls"},
    {"ratio": math.nan},
    {"params": {"delay": math.inf, "rate": -math.inf}},
    {"big": 2**64, "neg": -(2**63) - 1},
    {"edge": 2**64 - 1, "low": -(2**63)},
    {"data": {1: "int key", None: "none key"}},
    {"colour": Colour.RED, "level": Level.HIGH},
    {"id": uuid.UUID(int=7), "point": Point(3)},
    {"set": {1, 2}},
]


@pytest.mark.parametrize("fields", FIELDS, ids=range(len(FIELDS)))
def test_each_line_is_the_standard_librarys(tmp_path, fields):
    path = tmp_path / "h.jsonl"
    # a fixed clock: the time 5.0 is written alike (a time under 1e-4 would be 1e-05 / 1e-5)
    with Recorder(path, keep=True, process="p1", clock=lambda: 7.5, origin=2.5) as rec:
        rec.record("note", agent="a", skipped=None, **fields)
        event = rec.events[0]
    assert "skipped" not in event and list(event)[:4] == ["index", "time", "kind", "process"]
    assert path.read_bytes() == _stdlib(event)


def test_float_notation_may_differ_but_the_values_read_back_are_the_same(tmp_path):
    path = tmp_path / "h.jsonl"
    values = [1e-05, 1e16, 0.1, 123456.789, 5e-324, 1.7976931348623157e308, -0.0]
    with Recorder(path) as rec:
        for v in values:
            rec.record("note", value=v)
    assert [e["value"] for e in read_history(path).events] == values
