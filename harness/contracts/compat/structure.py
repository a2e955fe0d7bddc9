"""Object and array comparison (Confluent's ObjectSchemaDiff and ArraySchemaDiff).

Content models: *open* (nothing restricts extra properties/items), *closed* (``false``) and
*partially open* (a schema in ``additionalProperties``/``patternProperties``/``unevaluated*``).
Whether an added or removed property is safe depends on the model it lands in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from harness.contracts.compat.model import Node

if TYPE_CHECKING:
    from harness.contracts.compat.diff import Context

__all__ = ["compare_array", "compare_object", "is_open_array", "is_open_object"]

Order = Callable[[Iterable[str], Iterable[str]], list[str]]


def _is_empty(node: Node | None) -> bool:
    return node is not None and node.kind in ("empty", "true")


def _is_false(node: Node | None) -> bool:
    return node is not None and node.kind == "false"


def is_open_object(node: Node) -> bool:
    """True when the object schema accepts any extra property (Confluent's open model)."""
    a = node.a
    if not a["permitsAdditional"] or a["additional"] is not None or a["patterns"]:
        return False
    return a["unevaluated"] is None or _is_empty(a["unevaluated"])


def _partial_object(node: Node, name: str) -> Node | None:
    a = node.a
    for pattern, schema in a["patterns"]:
        try:
            if re.search(pattern, name):
                return schema
        except re.error:
            continue
    if a["additional"] is not None:
        return a["additional"]
    uneval = a["unevaluated"]
    if a["permitsAdditional"] and uneval is not None and not _is_false(uneval) \
            and not _is_empty(uneval):
        return uneval
    return None


def compare_object(ctx: Context, original: Node, update: Node, order: Order) -> None:
    """Required, properties, dependencies, additional/unevaluated properties, then sizes."""
    o, u = original.a, update.a
    ctx.path.append("required")
    for name in o["properties"]:
        if name in u["properties"]:
            before, after = name in o["required"], name in u["required"]
            if before and not after:
                ctx.add("REQUIRED_ATTRIBUTE_REMOVED", name)
            elif after and not before:
                ctx.add("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                        if u["properties"][name].has_default else "REQUIRED_ATTRIBUTE_ADDED",
                        name)
    ctx.path[-1] = "properties"
    same_draft = ctx.shared.same_draft
    o_props, u_props = o["properties"], u["properties"]
    for name in order(o_props, u_props):
        before, after = o_props.get(name), u_props.get(name)
        if (same_draft and before is not None and after is not None
                and before.key == after.key and before.plain):
            continue  # the same JSON without references: no differences
        ctx.path.append(name)
        _compare_property(ctx, original, update, name)
        ctx.path.pop()
    ctx.path[-1] = "dependencies"
    _compare_dependencies(ctx, o, u, order)
    ctx.path[-1] = "additionalProperties"
    _compare_additional(ctx, o, u, "ADDITIONAL_PROPERTIES")
    ctx.path.pop()
    _compare_unevaluated(ctx, o["unevaluated"], u["unevaluated"], "unevaluatedProperties",
                         "UNEVALUATED_PROPERTIES")
    for name, stem in (("maxProperties", "MAX_PROPERTIES"), ("minProperties", "MIN_PROPERTIES")):
        _limit(ctx, name, o[name], u[name], stem)


def _partial_cover(ctx: Context, before: Node, after: Node, stem: str, **kw: Any) -> None:
    """A property or item added/removed where the other side's model is partially open: the
    differences of the pair, then whether the open part covers it (``stem``_IS_COVERED_...)."""
    sub = ctx.sub()
    sub.schema(before, after)
    ctx.diffs.extend(sub.diffs)
    ctx.add(f"{stem}_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.compatible()
            else f"{stem}_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", **kw)


def _compare_additional(ctx: Context, o: dict[str, Any], u: dict[str, Any], stem: str) -> None:
    """additionalProperties / additionalItems: allowed or not, then a schema or none."""
    if o["permitsAdditional"] != u["permitsAdditional"]:
        ctx.add(f"{stem}_ADDED" if u["permitsAdditional"] else f"{stem}_REMOVED")
    elif o["additional"] is None and u["additional"] is not None:
        ctx.add(f"{stem}_NARROWED")
    elif u["additional"] is None and o["additional"] is not None:
        ctx.add(f"{stem}_EXTENDED")
    else:
        ctx.schema(o["additional"], u["additional"])


def _limit(ctx: Context, name: str, before: int | None, after: int | None, stem: str) -> None:
    if before == after:
        return
    if before is None:
        ctx.add(f"{stem}_ADDED", name)
    elif after is None:
        ctx.add(f"{stem}_REMOVED", name)
    elif before < after:
        ctx.add(f"{stem}_INCREASED", name)
    elif before > after:
        ctx.add(f"{stem}_DECREASED", name)


def _compare_property(ctx: Context, original: Node, update: Node, name: str) -> None:
    o_schema = original.a["properties"].get(name)
    u_schema = update.a["properties"].get(name)
    if u_schema is None:
        assert o_schema is not None
        if is_open_object(update):
            ctx.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", node=o_schema)
            return
        partial = _partial_object(update, name)
        if partial is not None:
            _partial_cover(ctx, o_schema, partial, "PROPERTY_REMOVED", node=o_schema)
        elif _is_false(o_schema):
            ctx.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", node=o_schema)
        else:
            ctx.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", node=o_schema)
        return
    if o_schema is not None:
        ctx.schema(o_schema, u_schema)
        return
    required = name in update.a["required"]
    if is_open_object(original):
        if u_schema.kind == "empty" or u_schema.kind == "true":
            ctx.add("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", node=u_schema)
        elif required:
            ctx.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
                    if u_schema.has_default else "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                    node=u_schema)
        else:
            ctx.add("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", node=u_schema)
        return
    partial = _partial_object(original, name)
    if partial is not None:
        _partial_cover(ctx, partial, u_schema, "PROPERTY_ADDED")
    if required:
        ctx.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
                if u_schema.has_default else "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                node=u_schema)
    else:
        ctx.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", node=u_schema)


def _compare_dependencies(ctx: Context, o: dict, u: dict, order: Order) -> None:
    before, after = o["propertyDeps"], u["propertyDeps"]
    for name in order(before, after):
        if name not in after:
            ctx.add("DEPENDENCY_ARRAY_REMOVED", name)
        elif name not in before:
            ctx.add("DEPENDENCY_ARRAY_ADDED", name)
        elif before[name] != after[name]:
            if after[name] >= before[name]:
                ctx.add("DEPENDENCY_ARRAY_EXTENDED", name)
            elif before[name] >= after[name]:
                ctx.add("DEPENDENCY_ARRAY_NARROWED", name)
            else:
                ctx.add("DEPENDENCY_ARRAY_CHANGED", name)
    before_s, after_s = o["schemaDeps"], u["schemaDeps"]
    for name in order(before_s, after_s):
        if name not in after_s:
            ctx.add("DEPENDENCY_SCHEMA_REMOVED", name)
        elif name not in before_s:
            ctx.add("DEPENDENCY_SCHEMA_ADDED", name)
        else:
            ctx.path.append(name)
            ctx.schema(before_s[name], after_s[name])
            ctx.path.pop()


def _compare_unevaluated(ctx: Context, before: Node | None, after: Node | None,
                         keyword: str, stem: str) -> None:
    if before is None and after is None:
        return
    ctx.path.append(keyword)
    if before is None:
        ctx.add(f"{stem}_REMOVED" if _is_false(after) else f"{stem}_NARROWED")
    elif after is None:
        ctx.add(f"{stem}_ADDED" if _is_false(before) else f"{stem}_EXTENDED")
    elif _is_false(before) and not _is_false(after):
        ctx.add(f"{stem}_ADDED")
    elif not _is_false(before) and _is_false(after):
        ctx.add(f"{stem}_REMOVED")
    elif _is_empty(before) and not _is_empty(after):
        ctx.add(f"{stem}_NARROWED")
    elif not _is_empty(before) and _is_empty(after):
        ctx.add(f"{stem}_EXTENDED")
    else:
        ctx.schema(before, after)
    ctx.path.pop()


def is_open_array(node: Node) -> bool:
    """True when the array schema accepts any item after its tuple items."""
    a = node.a
    if not a["permitsAdditional"] or a["additional"] is not None:
        return False
    return a["unevaluated"] is None or _is_empty(a["unevaluated"])


def _partial_array(node: Node) -> Node | None:
    a = node.a
    if a["additional"] is not None:
        return a["additional"]
    uneval = a["unevaluated"]
    if a["permitsAdditional"] and uneval is not None and not _is_false(uneval) \
            and not _is_empty(uneval):
        return uneval
    return None


def compare_array(ctx: Context, original: Node, update: Node) -> None:
    """Items, tuple items, additional/unevaluated items, then sizes, uniqueness, contains."""
    o, u = original.a, update.a
    ctx.path.append("items")
    ctx.schema(o["allItems"], u["allItems"])
    ctx.path.pop()
    _compare_tuple(ctx, original, update)
    ctx.path.append("additionalItems")
    _compare_additional(ctx, o, u, "ADDITIONAL_ITEMS")
    ctx.path.pop()
    _compare_unevaluated(ctx, o["unevaluated"], u["unevaluated"], "unevaluatedItems",
                         "UNEVALUATED_ITEMS")
    _limit(ctx, "maxItems", o["maxItems"], u["maxItems"], "MAX_ITEMS")
    _limit(ctx, "minItems", o["minItems"], u["minItems"], "MIN_ITEMS")
    if o["uniqueItems"] != u["uniqueItems"]:
        ctx.add("UNIQUE_ITEMS_REMOVED" if o["uniqueItems"] else "UNIQUE_ITEMS_ADDED",
                "uniqueItems")
    _limit(ctx, "maxContains", o["maxContains"], u["maxContains"], "MAX_CONTAINS")
    _limit(ctx, "minContains", o["minContains"], u["minContains"], "MIN_CONTAINS")


def _compare_tuple(ctx: Context, original: Node, update: Node) -> None:
    before = original.a["tupleItems"] or []
    after = update.a["tupleItems"] or []
    for index in range(max(len(before), len(after))):
        ctx.path.append(f"items/{index}")
        if index < len(before) and index < len(after):
            ctx.schema(before[index], after[index])
        elif index < len(before):
            _item_removed(ctx, before[index], update)
        else:
            _item_added(ctx, after[index], original)
        ctx.path.pop()


def _item_removed(ctx: Context, item: Node, update: Node) -> None:
    if is_open_array(update):
        ctx.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")
        return
    partial = _partial_array(update)
    if partial is not None:
        _partial_cover(ctx, item, partial, "ITEM_REMOVED")
    elif _is_false(item):
        ctx.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
    else:
        ctx.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL")


def _item_added(ctx: Context, item: Node, original: Node) -> None:
    if is_open_array(original):
        ctx.add("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                if item.kind in ("empty", "true") else "ITEM_ADDED_TO_OPEN_CONTENT_MODEL")
        return
    partial = _partial_array(original)
    if partial is not None:
        _partial_cover(ctx, partial, item, "ITEM_ADDED")
    else:
        ctx.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")
