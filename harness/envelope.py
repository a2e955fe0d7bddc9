"""The envelope: the self-contained, versioned handoff message between agents.

Wire form (JSON object, UTF-8)::

    {
      "envelope": 1,
      "message_id": "3f1c...",          # unique per logical message (stable across retries)
      "correlation_id": "pay-000042",   # the ingress input this message descends from
      "causation_id": "9ab2..." | null, # message_id of the message that caused this one
      "type": "payment.risk_assessed",
      "schema_version": 1,
      "idempotency_key": "e41d...",     # stable hash of the upstream identity and the step
      "producer": {"agent": "fraud", "version": "1.0.0"},
      "produced_at": "2026-11-26T06:46:58.123456Z",
      "trace": {"traceparent": "00-<32 hex>-<16 hex>-01", "tracestate": ""},
      "payload": {...}
    }

Identities of emitted messages are *derived*, never drawn: an agent that re-emits after a crash
emits byte-for-byte the same identities, so downstream deduplication works.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from harness.errors import EnvelopeError
from harness.fastjson import EXACT, exact_json

__all__ = [
    "ENVELOPE_VERSION",
    "MAX_ENVELOPE_BYTES",
    "Envelope",
    "Producer",
    "TraceContext",
    "derive_id",
    "idempotency_key",
]

ENVELOPE_VERSION = 1
#: Bytes above this are rejected before parsing (a huge payload is a dead letter, not an OOM).
MAX_ENVELOPE_BYTES = 1_000_000
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUIRED = ("message_id", "correlation_id", "type", "schema_version", "idempotency_key",
             "producer", "produced_at", "trace", "payload")


def derive_id(*parts: object, length: int = 32) -> str:
    """A stable hex id from the given parts (sha256 of their ``|``-joined text)."""
    text = "|".join(map(str, parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def idempotency_key(upstream_identity: str, step: str) -> str:
    """The idempotency key of a step applied to an upstream message: stable across retries."""
    return derive_id("idem", upstream_identity, step)


@dataclass(frozen=True)
class Producer:
    """Who produced an envelope."""

    agent: str
    version: str


@dataclass(frozen=True)
class TraceContext:
    """W3C trace context (``traceparent`` and ``tracestate``)."""

    traceparent: str
    tracestate: str = ""

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    @property
    def span_id(self) -> str:
        return self.traceparent.split("-")[2]

    @classmethod
    def new(cls, seed_text: str) -> TraceContext:
        """A root trace context derived from ``seed_text``."""
        span = derive_id("span", seed_text, length=16)
        return cls(f"00-{derive_id('trace', seed_text)}-{span}-01")

    def child(self, seed_text: str) -> TraceContext:
        """The same trace, with a new span id derived from ``seed_text``."""
        parts = self.traceparent.split("-")
        trace_id, flags = parts[1], parts[3]
        span = derive_id("span", trace_id, seed_text, length=16)
        return _frozen(TraceContext, traceparent=f"00-{trace_id}-{span}-{flags}",  # type: ignore[no-any-return]
                       tracestate=self.tracestate)


def _frozen(cls: type[Any], **fields: Any) -> Any:
    """``cls(**fields)`` for the frozen dataclasses here, without the generated ``__init__``'s
    ``object.__setattr__`` per field (every hop builds several): the same instance, same
    ``__dict__``. Callers pass every field, in field order, already checked."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


#: (whole second, its "%Y-%m-%dT%H:%M:%S" text) of the latest _now()
_second: tuple[float, str] = (-1.0, "")


def _now() -> str:
    """``datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")``, with the
    second's text formatted once per second (on every hop's hot path).

    time.time(), not datetime.now(): a simulated run (harness.sim) pins time.time to its
    virtual clock, so produced_at is reproducible there."""
    global _second
    # datetime.fromtimestamp's rounding: the fraction to the nearest microsecond, ties to even
    frac, whole = math.modf(time.time())
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1.0, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1.0, micros + 1_000_000
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{micros:06d}Z"


@dataclass(frozen=True)
class Envelope:
    """One handoff message. Build ingress envelopes with :meth:`ingress`, children with
    :meth:`child`; parse bytes with :meth:`from_bytes`."""

    message_id: str
    correlation_id: str
    causation_id: str | None
    type: str
    schema_version: int
    idempotency_key: str
    producer: Producer
    produced_at: str
    trace: TraceContext
    payload: Any = field(default_factory=dict)

    @classmethod
    def ingress(
        cls,
        *,
        type: str,
        schema_version: int,
        payload: Any,
        correlation_id: str,
        producer: Producer = Producer("workload", "1"),
        identity: str | None = None,
        produced_at: str | None = None,
    ) -> Envelope:
        """An envelope entering the pipeline; ``identity`` (default: correlation id) names the
        input so that its idempotency key is the same however often it is sent."""
        ident = identity or correlation_id
        return cls(
            message_id=derive_id("msg", ident, type),
            correlation_id=correlation_id,
            causation_id=None,
            type=type,
            schema_version=schema_version,
            idempotency_key=idempotency_key(ident, f"ingress:{type}"),
            producer=producer,
            produced_at=produced_at or _now(),
            trace=TraceContext.new(ident),
            payload=payload,
        )

    def child(
        self,
        *,
        type: str,
        schema_version: int,
        payload: Any,
        producer: Producer,
        index: int = 0,
    ) -> Envelope:
        """An envelope caused by this one: same correlation id and trace, causation id = this
        message id, identities derived from this message and the step (agent, type, index)."""
        step = f"{producer.agent}:{type}:{index}"
        return _frozen(  # type: ignore[no-any-return]
            Envelope,
            message_id=derive_id("msg", self.message_id, step),
            correlation_id=self.correlation_id,
            causation_id=self.message_id,
            type=type,
            schema_version=schema_version,
            idempotency_key=idempotency_key(self.idempotency_key, step),
            producer=producer,
            produced_at=_now(),
            trace=self.trace.child(step),
            payload=payload,
        )

    def with_payload(self, payload: Any) -> Envelope:
        """A copy with another payload (used by faults and tests)."""
        return replace(self, payload=payload)

    def identities(self) -> dict[str, Any]:
        """The identity fields recorded in history events."""
        return {
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "type": self.type,
            "schema_version": self.schema_version,
            "idempotency_key": self.idempotency_key,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"envelope": ENVELOPE_VERSION, **data}

    def to_bytes(self) -> bytes:
        """Compact UTF-8 JSON (the same document as ``to_dict``, built without its deep copy:
        this is on every hop's hot path)."""
        return self.encode()[0]

    def encode(self) -> tuple[bytes, bool]:
        """(:meth:`to_bytes`, whether orjson wrote them): orjson's bytes of a str-keyed dict
        are what :meth:`from_bytes` would re-encode them to, so ``canonical`` may skip that."""
        data = {
            "envelope": ENVELOPE_VERSION,
            **self.identities(),  # same keys, same order as the dataclass fields
            "producer": {"agent": self.producer.agent, "version": self.producer.version},
            "produced_at": self.produced_at,
            "trace": {"traceparent": self.trace.traceparent, "tracestate": self.trace.tracestate},
            "payload": self.payload,
        }
        if exact_json(data, floats=False):  # orjson writes these as json.dumps below
            try:
                return orjson.dumps(data, option=EXACT), True
            except TypeError:  # a non-str key, an int past 64 bits, a lone surrogate, depth
                pass
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8"), False

    @classmethod
    def from_bytes(cls, data: bytes, *, canonical: bool = False) -> Envelope:
        """Parse wire bytes; ``canonical``: they are :meth:`encode`'s orjson bytes (this
        process wrote them), so the re-encoding check for duplicate keys is skipped.

        Raises:
            EnvelopeError: with ``reason`` one of ``too_large``, ``not_utf8``, ``not_json``,
                ``duplicate_key``, ``not_envelope``, ``missing_field``, ``bad_field``; the message
                names the field or byte offset.
        """
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError(f"{len(data)} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit",
                                where="envelope", reason="too_large")
        raw = _fast_parse(data, canonical=canonical)
        if raw is not None:
            return cls.from_dict(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"not UTF-8 at byte {exc.start}", where="envelope",
                                reason="not_utf8") from exc
        try:
            raw = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except _DuplicateKey as exc:
            raise EnvelopeError(f"duplicate JSON key {exc.key!r}", where="envelope",
                                reason="duplicate_key") from exc
        except (json.JSONDecodeError, ValueError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:100]
            raise EnvelopeError(f"not JSON: {msg}", where="envelope", reason="not_json") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> Envelope:
        """Build from a decoded JSON object, checking every field's presence and type."""
        if not isinstance(raw, dict):
            raise EnvelopeError(f"expected a JSON object, got {type(raw).__name__}",
                                where="envelope", reason="not_envelope")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise EnvelopeError(f"missing field {missing[0]!r}", where=f"envelope.{missing[0]}",
                                reason="missing_field")
        if raw.get("envelope", ENVELOPE_VERSION) != ENVELOPE_VERSION:
            raise EnvelopeError(f"unsupported envelope version {raw.get('envelope')!r}",
                                where="envelope.envelope", reason="bad_field")
        for key in ("message_id", "correlation_id", "type", "idempotency_key", "produced_at"):
            _check(raw, key, str, nonempty=True)
        if raw["causation_id"] is not None:
            _check(raw, "causation_id", str, nonempty=True)
        version = raw["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise EnvelopeError(f"schema_version must be a positive integer, got {version!r}",
                                where="envelope.schema_version", reason="bad_field")
        producer = raw["producer"]
        if not (isinstance(producer, dict) and isinstance(producer.get("agent"), str)
                and isinstance(producer.get("version"), str)):
            raise EnvelopeError("producer must be {agent: str, version: str}",
                                where="envelope.producer", reason="bad_field")
        trace = raw["trace"]
        if not (isinstance(trace, dict) and isinstance(trace.get("traceparent"), str)
                and _TRACEPARENT.match(trace["traceparent"])):
            raise EnvelopeError("trace.traceparent must be a W3C traceparent",
                                where="envelope.trace.traceparent", reason="bad_field")
        tracestate = trace.get("tracestate", "")
        if not isinstance(tracestate, str):
            raise EnvelopeError("trace.tracestate must be a string",
                                where="envelope.trace.tracestate", reason="bad_field")
        return _frozen(  # type: ignore[no-any-return]
            cls,
            message_id=raw["message_id"],
            correlation_id=raw["correlation_id"],
            causation_id=raw["causation_id"],
            type=raw["type"],
            schema_version=version,
            idempotency_key=raw["idempotency_key"],
            producer=_frozen(Producer, agent=producer["agent"], version=producer["version"]),
            produced_at=raw["produced_at"],
            trace=_frozen(TraceContext, traceparent=trace["traceparent"], tracestate=tracestate),
            payload=raw["payload"],
        )


#: bytes with more opening brackets than this skip orjson (3.8 crashes the process, SIGSEGV, on
#: ~100,000 nested objects; the standard library raises RecursionError, a clean dead letter)
_ORJSON_BRACKETS = 200


def _bracketed(data: bytes) -> bool:
    return data.count(b"{") + data.count(b"[") > _ORJSON_BRACKETS


def _fast_parse(data: bytes, *, canonical: bool = False) -> dict[str, Any] | None:
    """The JSON object in ``data`` when orjson reads it and writes it back byte for byte (so no
    key was duplicated: the hot path of every hop, since the harness writes compact JSON);
    None sends the bytes to the strict parser, which names what is wrong. ``canonical`` bytes
    (orjson wrote them from a dict, at most 255 levels deep) skip both checks."""
    if not canonical and _bracketed(data):  # orjson 3.8 crashes (SIGSEGV) on ~100,000 nested
        return None                         # objects: the strict parser refuses them
    try:
        raw = orjson.loads(data)
        if type(raw) is not dict or (not canonical and orjson.dumps(raw) != data):
            return None
    except (orjson.JSONDecodeError, TypeError):  # TypeError: nested deeper than orjson writes
        return None
    return raw


def _check(raw: dict[str, Any], key: str, kind: type, *, nonempty: bool = False) -> None:
    value = raw[key]
    if not isinstance(value, kind) or (nonempty and not value) or (
            isinstance(value, str) and ("\x00" in value or len(value) > 512)):
        raise EnvelopeError(f"{key} must be a non-empty {kind.__name__} (no NUL, at most 512 "
                            f"chars), got {str(value)[:40]!r}", where=f"envelope.{key}",
                            reason="bad_field")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def peek_correlation_id(data: bytes) -> str | None:
    """Best-effort correlation id from bytes that may not be a valid envelope (for DLQ)."""
    try:
        raw = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        match = re.search(rb'"correlation_id"\s*:\s*"([^"\\]{1,200})"', data)
        return match.group(1).decode("utf-8", "replace") if match else None
    if isinstance(raw, dict) and isinstance(raw.get("correlation_id"), str):
        return raw["correlation_id"][:512]
    return None


_ID_FIELDS = ("message_id", "correlation_id", "causation_id", "type", "schema_version",
              "idempotency_key")


def peek_identities(data: bytes) -> dict[str, Any]:
    """Whatever identity fields can be read from bytes that may not be a valid envelope.

    Used to record an invalid input's identities (so that the agent's delivery of it can be
    traced back to its ingress); fields that are missing or of the wrong type are left out.
    """
    if len(data) > 4 * MAX_ENVELOPE_BYTES:
        return {}
    try:
        if _bracketed(data):  # maybe too deep for orjson
            raise orjson.JSONDecodeError("many brackets", "", 0)
        raw = orjson.loads(data)  # the router's hot path; what orjson refuses, json may read
    except orjson.JSONDecodeError:
        try:
            raw = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key in _ID_FIELDS:
        value = raw.get(key)
        if (isinstance(value, str) and 0 < len(value) <= 512) or (
                key == "schema_version" and isinstance(value, int)
                and not isinstance(value, bool)):
            out[key] = value
    return out
