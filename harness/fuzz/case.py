"""One fuzz input and the oracle that says whether an agent must accept it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from harness.agents.sdk import MessageRef
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope, peek_correlation_id
from harness.errors import EnvelopeError, ValidationFailed

__all__ = ["Case", "classify"]


@dataclass(frozen=True, repr=False)
class Case:
    """One input for one agent.

    Attributes:
        kind: ``valid``, ``injection:<variant>`` or the mutation that made it
            (``missing_required``; ``...:still_valid`` when the oracle still accepts it).
        ref: the consumed ``type@version`` it was generated from.
        body: the bytes sent.
        correlation_id: the correlation id the input travels with (header and, when it parses,
            envelope).
        valid: the oracle's verdict: the agent must accept it.
        reason: the oracle's dead-letter reason for an invalid input.
        message_id: the envelope's message id, when it parses.
        canaries: strings that must not travel onward (injection cases only).
        note: what the mutation did (the field it changed).
        twin: the same input with the injected text replaced by benign text of the same shape
            (injection cases only): the agent must decide the same for both.
    """

    kind: str
    ref: str
    body: bytes
    correlation_id: str
    valid: bool
    reason: str | None = None
    message_id: str | None = None
    canaries: tuple[str, ...] = ()
    note: str = ""
    twin: bytes | None = None

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return (f"Case(kind={self.kind!r}, ref={self.ref!r}, valid={self.valid}, "
                f"note={self.note!r}, body={body!r} ({len(self.body)} bytes))")

    @property
    def expected_dead_letter_cid(self) -> str:
        """The correlation id a dead letter of this input should carry."""
        return peek_correlation_id(self.body) or self.correlation_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (body as text when UTF-8, else base64)."""
        try:
            body: dict[str, str] = {"text": self.body.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"base64": base64.b64encode(self.body).decode("ascii")}
        if len(self.body) > 2000:
            body = {"prefix": self.body[:300].decode("utf-8", "replace"),
                    "bytes": str(len(self.body))}
        return {"kind": self.kind, "ref": self.ref, "correlation_id": self.correlation_id,
                "valid": self.valid, "reason": self.reason, "note": self.note,
                "canaries": list(self.canaries), "body": body}


def classify(body: bytes, consumes: list[MessageRef],
             registry: SchemaRegistry) -> tuple[bool, str | None, Envelope | None]:
    """The oracle: (valid, dead-letter reason, parsed envelope) for ``body``.

    Valid means: the bytes parse as an envelope, its (type, version) is one the agent consumes,
    and the registry's validator accepts the payload.
    """
    try:
        env = Envelope.from_bytes(body)
    except EnvelopeError as exc:
        return False, exc.reason, None
    versions = [r.version for r in consumes if r.type == env.type]
    if not versions:
        return False, "unexpected_type", env
    if env.schema_version not in versions:
        return False, "unknown_version", env
    if registry.is_valid(env.type, env.schema_version, env.payload):
        return True, None, env
    try:  # the reason only (a JSON payload's is schema_invalid): no sorted list of every error
        if registry.get(env.type, env.schema_version).format == "json":
            return False, "schema_invalid", env
        registry.validate(env.type, env.schema_version, env.payload)
    except ValidationFailed as exc:
        return False, exc.reason, env
    return True, None, env
