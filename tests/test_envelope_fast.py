"""The envelope's hot-path shortcuts give what the plain code gave: ``to_bytes`` (orjson for
float-free JSON) is ``json.dumps``'s bytes, and ``produced_at`` is ``strftime``'s text."""

from __future__ import annotations

import enum
import json
import math
import random
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import envelope as envelope_mod
from harness.envelope import Envelope, Producer


def _json_dumps(env: Envelope) -> bytes:
    return json.dumps(env.to_dict(), separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _env(payload: object) -> Envelope:
    return Envelope.ingress(type="t", schema_version=1, payload=payload, correlation_id="c-1",
                            produced_at="2026-11-28T00:00:00.000000Z")


_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_to_bytes_is_json_dumps_for_any_json_payload(payload):
    env = _env(payload)
    assert env.to_bytes() == _json_dumps(env)


class Kind(enum.IntEnum):
    A = 1


@pytest.mark.parametrize("payload", [
    {"s": "caf\u00e9 \x00\x1f\x7f \u2028 \U0001F600"}, {"t": ("a", 1)}, {"n": 2**64 - 1},
    {"n": 2**64}, {1: "int key"}, {"k": Kind.A}, {"f": 1e-05}, {"d": [[[[]]]] * 3},
])
def test_to_bytes_edge_values(payload):
    env = _env(payload)
    assert env.to_bytes() == _json_dumps(env)


@pytest.mark.parametrize("payload", [{"x": math.nan}, {"s": "\udcff"}, {"o": object()},
                                     {"u": {1, 2}}])
def test_to_bytes_refuses_what_json_dumps_refused(payload):
    env = _env(payload)
    with pytest.raises((ValueError, TypeError)) as fast:
        env.to_bytes()
    with pytest.raises((ValueError, TypeError)) as plain:
        _json_dumps(env)
    assert type(fast.value) is type(plain.value)


def test_produced_at_is_strftimes_text(monkeypatch):
    rng = random.Random(17)
    stamps = [0.0, 0.5e-6, 1.5e-6, 0.9999995, 0.9999996, 1_700_000_000.0, 1_700_000_000.9999996,
              1_799_999_999.4999995]
    stamps += [rng.uniform(0, 4e9) for _ in range(2000)]
    stamps += [float(rng.randrange(1_600_000_000, 1_900_000_000)) + rng.randrange(10**6) / 1e6
               for _ in range(2000)]
    for stamp in stamps:
        monkeypatch.setattr(time, "time", lambda s=stamp: s)
        expected = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert envelope_mod._now() == expected, stamp


def test_child_envelopes_are_unchanged():
    parent = _env({"a": 1})
    child = parent.child(type="u", schema_version=2, payload={"b": 2},
                         producer=Producer("p", "1"), index=3)
    trace_id = parent.trace.traceparent.split("-")[1]
    assert child.trace.traceparent.startswith(f"00-{trace_id}-")
    assert child.trace.traceparent.endswith("-01")
    assert child.message_id == envelope_mod.derive_id("msg", parent.message_id, "p:u:3")
