"""JSON Schema compatibility checking with Confluent Schema Registry's semantics, and more.

Public entry points::

    check_compatibility(old, new, mode="BACKWARD", policy="strict") -> CompatResult
    check_registry(registry) -> list[SubjectVerdict]

Modules: ``differences`` (type names, STRICT/LENIENT sets), ``model`` (schema graph),
``resolve`` ($ref), ``diff``/``structure`` (the walk), ``levels`` (modes), ``renames``,
``witness``, ``explain``, ``check`` and ``registry_check`` (the public checks).
"""

from harness.contracts.compat.check import Change, CompatResult, check_compatibility
from harness.contracts.compat.differences import ALL_TYPES, LENIENT, STRICT, Difference
from harness.contracts.compat.registry_check import SubjectVerdict, Violation, check_registry
from harness.contracts.compat.renames import Rename
from harness.contracts.compat.witness import Witness

__all__ = [
    "ALL_TYPES",
    "LENIENT",
    "STRICT",
    "Change",
    "CompatResult",
    "Difference",
    "Rename",
    "SubjectVerdict",
    "Violation",
    "Witness",
    "check_compatibility",
    "check_registry",
]
