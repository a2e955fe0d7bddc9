"""Plain-language explanations and fix options for each difference.

Messages are written from the direction's point of view: in a BACKWARD check the *writer* is
the old schema (data already out there) and the *reader* is the new one; FORWARD swaps them.
"""

from __future__ import annotations

from harness.contracts.compat.differences import Difference

__all__ = ["explain", "fixes"]

_KEYWORD_WORDS = {
    "MAX_LENGTH": "maximum length", "MIN_LENGTH": "minimum length", "MAXIMUM": "maximum",
    "MINIMUM": "minimum", "EXCLUSIVE_MAXIMUM": "exclusive maximum",
    "EXCLUSIVE_MINIMUM": "exclusive minimum", "MULTIPLE_OF": "multipleOf",
    "MAX_PROPERTIES": "maximum number of properties",
    "MIN_PROPERTIES": "minimum number of properties", "MAX_ITEMS": "maximum number of items",
    "MIN_ITEMS": "minimum number of items", "MAX_CONTAINS": "maxContains",
    "MIN_CONTAINS": "minContains", "PATTERN": "pattern",
}

_FIXED = {
    "ID_CHANGED": "$id changed; data is not affected",
    "TITLE_CHANGED": "title changed; data is not affected",
    "DESCRIPTION_CHANGED": "description changed; data is not affected",
    "DEFAULT_CHANGED": "default changed; readers filling in the default now get another value",
    "SCHEMA_ADDED": "a schema now constrains {place}, which was unconstrained, so {writer} data "
                    "there may no longer be accepted",
    "SCHEMA_REMOVED": "the schema at {place} was removed; anything is accepted there now",
    "TYPE_CHANGED": "the type at {place} changed, so {writer} data of the old type is rejected",
    "TYPE_NARROWED": "{place} was a number and is now an integer: {writer} data such as 1.5 "
                     "is rejected",
    "TYPE_EXTENDED": "{place} was an integer and is now any number",
    "REQUIRED_ATTRIBUTE_ADDED": "'{name}' became required without a default: {writer} data "
                                "without '{name}' is rejected",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED": "'{name}' became required, with a default",
    "REQUIRED_ATTRIBUTE_REMOVED": "'{name}' is no longer required",
    "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL":
        "required property '{name}' was added without a default: {writer} data without it is "
        "rejected",
    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
        "required property '{name}' was added without a default: {writer} data never has it, "
        "so all of it is rejected",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL":
        "property '{name}' was added to an open model: {writer} data may already carry "
        "'{name}' with a value the {reader} rejects",
    "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL":
        "property '{name}' was added to an open model: {writer} data may already carry "
        "'{name}' with any value, which the {reader} may reject",
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL":
        "property '{name}' was added and accepts anything",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL":
        "required property '{name}' with a default was added to a closed model",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
        "optional property '{name}' was added to a closed model; {writer} data never has it",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL":
        "property '{name}' was removed; the {reader} still accepts it as an extra property",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL":
        "forbidden property '{name}' was removed from a closed model",
    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL":
        "property '{name}' was removed but the {reader} forbids unknown properties: {writer} "
        "data carrying '{name}' is rejected",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
        "property '{name}' was removed; its values still match the {reader}'s schema for "
        "extra properties",
    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
        "property '{name}' was removed and its values do not match the {reader}'s schema for "
        "extra properties: {writer} data carrying it is rejected",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
        "property '{name}' was added; {writer} data under that name already matched it",
    "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
        "property '{name}' was added with a schema narrower than the {writer} allowed for extra "
        "properties: {writer} data under that name may be rejected",
    "ADDITIONAL_PROPERTIES_ADDED": "extra properties are now allowed",
    "ADDITIONAL_PROPERTIES_REMOVED": "extra properties are now forbidden: {writer} data with "
                                     "properties not declared here is rejected",
    "ADDITIONAL_PROPERTIES_NARROWED": "extra properties must now match a schema: {writer} data "
                                      "with other extra properties is rejected",
    "ADDITIONAL_PROPERTIES_EXTENDED": "extra properties no longer need to match a schema",
    "UNIQUE_ITEMS_ADDED": "items must now be unique: {writer} data with repeated items is "
                          "rejected",
    "UNIQUE_ITEMS_REMOVED": "items no longer need to be unique",
    "ENUM_ARRAY_EXTENDED": "allowed values were added to the enum at {place}",
    "ENUM_ARRAY_NARROWED": "allowed values were removed from the enum at {place}: {writer} data "
                           "using them is rejected",
    "ENUM_ARRAY_CHANGED": "the allowed values at {place} changed: {writer} data using the old "
                          "values is rejected",
    "COMBINED_TYPE_EXTENDED": "the combination at {place} became less strict",
    "COMBINED_TYPE_CHANGED": "the combination keyword at {place} changed (e.g. anyOf -> oneOf) "
                             "in a way that rejects {writer} data",
    "COMBINED_TYPE_SUBSCHEMAS_CHANGED": "the alternatives at {place} changed: some {writer} "
                                        "alternative has no compatible counterpart",
    "PRODUCT_TYPE_EXTENDED": "allOf at {place} gained a branch: data must now match more",
    "PRODUCT_TYPE_NARROWED": "allOf at {place} lost a branch: data must match less",
    "SUM_TYPE_EXTENDED": "{place} accepts more alternatives",
    "SUM_TYPE_NARROWED": "{place} lost alternatives: {writer} data matching them is rejected",
    "NOT_TYPE_EXTENDED": "'not' at {place} forbids more: some {writer} data is rejected",
    "NOT_TYPE_NARROWED": "'not' at {place} forbids less",
    "DEPENDENCY_ARRAY_ADDED": "a property dependency on '{name}' was added",
    "DEPENDENCY_ARRAY_EXTENDED": "the property dependency of '{name}' needs more properties",
    "DEPENDENCY_ARRAY_CHANGED": "the property dependency of '{name}' changed",
    "DEPENDENCY_SCHEMA_ADDED": "a schema dependency on '{name}' was added",
}


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path not in ("#/", "#") else "the root"


def _parent_place(path: str) -> str:
    parent = path.rsplit("/", 1)[0]
    return "the root" if parent in ("", "#") else parent


def explain(diff: Difference, *, direction: str = "backward", compatible: bool = True) -> str:
    """One plain sentence saying what changed and what it does to existing data."""
    writer, reader = (("old", "new schema") if direction == "backward"
                      else ("new", "old schema"))
    name = _name(diff.path)
    place = "the root" if diff.path in ("#/", "#") else diff.path
    template = _FIXED.get(diff.type)
    if template is None:
        stem, _, change = diff.type.rpartition("_")
        if stem in _KEYWORD_WORDS:
            word = _KEYWORD_WORDS[stem]
            where = _parent_place(diff.path)
            verb = {"ADDED": "was added", "REMOVED": "was removed", "INCREASED": "was increased",
                    "DECREASED": "was decreased", "EXPANDED": "was made stricter",
                    "REDUCED": "was relaxed", "CHANGED": "changed"}.get(change, change.lower())
            template = f"the {word} at {where} {verb}"
            if not compatible:
                template += ", so some {writer} data is now rejected"
        else:
            template = diff.type.lower().replace("_", " ") + " at {place}"
    text = template.format(writer=writer, reader=reader, name=name, place=place)
    if diff.detail:
        inner = "; ".join(explain(Difference(*item.split(" ", 1)),  # type: ignore[arg-type]
                                  direction=direction,
                                  compatible=False) for item in diff.detail[:3])
        text += f" ({inner})"
    if not compatible and "rejected" not in text:
        text += f" (not allowed by this policy: {writer} data may not be readable)"
    return text


def fixes(diff: Difference) -> list[str]:
    """Ways to make an incompatible difference safe."""
    name = _name(diff.path)
    kind = diff.type
    bump = "bump the major version (a new subject) and migrate or dual-publish the old data"
    if "REQUIRED" in kind and "ADDED" in kind:
        return [f"give '{name}' a default", f"keep '{name}' optional", bump]
    if "PROPERTY" in kind and "REMOVED" in kind:
        return [f"keep '{name}' in the new schema (mark it deprecated)",
                "leave the model open (no additionalProperties: false)", bump]
    if "PROPERTY" in kind and "ADDED" in kind:
        return [f"declare '{name}' with a schema that accepts any value old data could hold",
                "use the LENIENT policy if no producer ever sent that name", bump]
    if kind.startswith("ADDITIONAL_PROPERTIES") or kind.startswith("UNEVALUATED"):
        return ["keep extra properties allowed", bump]
    return ["keep the old constraint (or relax it in the new schema)", bump]
