"""Corpus records where Confluent's recorded verdict is wrong about JSON Schema semantics.

The checker keeps Confluent's answer for these (its STRICT and LENIENT policies are
Confluent's), and the tests check each reason with a real validator: a "compatible" record
that is really incompatible must have a breaking payload, and an "incompatible" record that is
really compatible must have none that the witness search can find.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXEMPTIONS", "Exemption", "exemption_for"]


@dataclass(frozen=True)
class Exemption:
    """One corpus record whose recorded verdict disagrees with JSON Schema semantics.

    Attributes:
        corpus: the corpus file name.
        index: the record's position in that file (0-based).
        description: the record's description.
        confluent: Confluent's recorded BACKWARD/STRICT verdict (what the checker returns).
        semantic: whether every payload the old schema accepts is accepted by the new one.
        reason: why the two differ.
    """

    corpus: str
    index: int
    description: str
    confluent: bool
    semantic: bool
    reason: str


_REQUIRED = ("Confluent ignores names in `required` that are not declared in `properties`, so "
             "requiring the undeclared `bar` is not seen; but {\"foo\": \"a\"} is valid before "
             "and invalid after (bar is missing).")
_DEPENDENCY = ("The dependency schema applies to the whole object when `foo` is present; an "
               "object is never a string nor a number, so both versions reject every object "
               "with `foo` and accept the same payloads.")
_ADDITIONAL_ITEMS = ("`additionalItems` only applies after a tuple-form `items` array; with no "
                     "`items` it has no effect, so both versions accept the same payloads.")

EXEMPTIONS: tuple[Exemption, ...] = (
    Exemption("diff-schema-examples.json", 51,
              "Detect incompatible changes to dependencies schemas", False, True, _DEPENDENCY),
    Exemption("diff-schema-examples.json", 55, "Detect required array to be changed",
              True, False, _REQUIRED),
    Exemption("diff-schema-examples.json", 87, "Detect removed boolean additional items",
              False, True, _ADDITIONAL_ITEMS),
    Exemption("diff-schema-examples.json", 88, "Detect changes to additional items schema",
              False, True, _ADDITIONAL_ITEMS),
    Exemption("diff-schema-examples-2020-12.json", 53,
              "Detect incompatible changes to dependencies schemas", False, True, _DEPENDENCY),
    Exemption("diff-schema-examples-2020-12.json", 57, "Detect required array to be changed",
              True, False, _REQUIRED),
)


def exemption_for(corpus: str, index: int) -> Exemption | None:
    """The exemption of a corpus record, if it has one."""
    for exemption in EXEMPTIONS:
        if exemption.corpus == corpus and exemption.index == index:
            return exemption
    return None
