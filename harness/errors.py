"""The harness's error tree.

HarnessError
 +-- InputError            bad input to the harness itself (a file, a flag, a value); exit code 2
 |    +-- EnvelopeError    bytes that are not a valid envelope
 |    +-- SchemaError      a schema that cannot be loaded or resolved
 |    +-- PipelineError    a broken pipeline file
 |    +-- HistoryError     a history that cannot be read
 +-- ValidationFailed      a payload that does not match its contract (carries a machine reason)
 +-- TransportError        a broker adapter failure, chained from the client library's error
 +-- ServiceUnavailable    a service the harness needs is not reachable

Every error names the place it is about (file, line, field or pointer) in its message, so the
CLI can print one clear line and exit 2 without a traceback.
"""

from __future__ import annotations

__all__ = [
    "EnvelopeError",
    "HarnessError",
    "HistoryError",
    "InputError",
    "PipelineError",
    "SchemaError",
    "ServiceUnavailable",
    "TransportError",
    "ValidationFailed",
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class InputError(HarnessError):
    """Bad input to the harness: the message names the file, field or place."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class EnvelopeError(InputError):
    """Bytes that do not parse as a valid envelope."""

    def __init__(self, message: str, *, where: str | None = None,
                 reason: str = "malformed") -> None:
        self.reason = reason
        super().__init__(message, where=where)


class SchemaError(InputError):
    """A schema that cannot be loaded, parsed or resolved."""


class PipelineError(InputError):
    """A pipeline or experiment file that is broken."""


class HistoryError(InputError):
    """A history file that cannot be read."""


class ValidationFailed(HarnessError):
    """A payload or envelope that fails its contract.

    Attributes:
        reason: machine-readable reason code (e.g. ``schema_invalid``, ``unknown_version``).
        detail: human-readable detail naming the field.
        path: JSON pointer of the failing place, when known.
    """

    def __init__(self, reason: str, detail: str, *, path: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(f"{reason}: {detail}")


class TransportError(HarnessError):
    """A broker operation failed; chained (``from exc``) from the client library's error."""


class ServiceUnavailable(HarnessError):
    """A service (broker, database) the harness needs does not answer."""
