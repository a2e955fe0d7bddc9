"""Bodies this process's agents published after validating them: the next hop in the same
process need not check them for duplicate keys or validate them again (the runtime's hot path).

An agent validates each emission against the registry before it encodes and publishes it. When
orjson wrote the bytes (a str-keyed dict, no float: :meth:`Envelope.encode`) and the payload is
plain JSON (no tuple), reading the bytes back gives the same payload, so the same registry gives
it the same verdict. A runtime of this process that receives exactly those bytes takes the entry
(once) and skips the re-encoding check and its payload validation; its own checks (the agent
consumes the type and version, the envelope's fields) still run. Any other bytes (a fault
rewrote them, another process or the workload published them, a redelivery after the entry was
taken or dropped) take the full path.
"""

from __future__ import annotations

from typing import Any

from harness.contracts.compiled import plain_json

__all__ = ["Published", "published"]


class Published:
    """Bytes -> (type, version) of validated emissions, the oldest dropped past ``limit``."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._bodies: dict[bytes, tuple[str, int]] = {}

    def add(self, body: bytes, message_type: str, version: int, payload: Any) -> None:
        """Remember ``body`` (orjson's bytes of an envelope whose payload was validated)."""
        if not plain_json(payload):  # a tuple reads back as a list: validate it again
            return
        bodies = self._bodies
        if len(bodies) >= self.limit:
            bodies.pop(next(iter(bodies), b""), None)
        bodies[body] = (message_type, version)

    def take(self, body: bytes) -> tuple[str, int] | None:
        """The (type, version) ``body`` was validated as, if it was; forgotten now."""
        if not self._bodies or not isinstance(body, bytes):
            return None
        return self._bodies.pop(body, None)

    def __len__(self) -> int:
        return len(self._bodies)


def published(registry: Any) -> Published | None:
    """The memo of ``registry`` (verdicts hold for the registry that gave them), or None for a
    registry-like object that cannot carry one."""
    memo = getattr(registry, "_published", None)
    if memo is None:
        memo = Published()
        try:
            registry._published = memo
        except AttributeError:
            return None
    return memo  # type: ignore[no-any-return]
