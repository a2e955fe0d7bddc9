"""The schema diff walk: Confluent's SchemaDiff semantics over :mod:`model` graphs.

:func:`compare` returns the differences between an original (writer) and an update (reader)
schema, in the order Confluent's ``SchemaDiff.compare`` produces them. Pairs of nodes are
memoised; a pair met again while it is being compared (a recursive schema) is assumed
compatible, and the walk is repeated with the pairs found incompatible until nothing changes,
so recursion terminates and stays sound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.contracts.compat.differences import Difference
from harness.contracts.compat.javaorder import hashset_union_order
from harness.contracts.compat.model import MISSING, Node, SchemaGraph, canonical
from harness.contracts.compat.structure import compare_array, compare_object

__all__ = ["Context", "compare", "compare_nodes"]

Pair = tuple[int, int]


@dataclass
class _Shared:
    allowed: frozenset[str]
    seed: dict[Pair, list[Difference]]
    old: SchemaGraph
    new: SchemaGraph
    memo: dict[Pair, list[Difference]] = field(default_factory=dict)
    in_progress: set[Pair] = field(default_factory=set)
    optimistic: bool = False
    keep: list[tuple[Node, Node]] = field(default_factory=list)

    @property
    def same_draft(self) -> bool:
        return self.old.draft == self.new.draft


class Context:
    """A path and a list of differences, sharing memo and cycle state with its subcontexts."""

    __slots__ = ("diffs", "path", "shared")

    def __init__(self, shared: _Shared, path: list[str] | None = None) -> None:
        self.shared = shared
        self.path: list[str] = list(path or [])
        self.diffs: list[Difference] = []

    def sub(self) -> Context:
        """A subcontext at the same path with its own differences."""
        return Context(self.shared, self.path)

    def pointer(self) -> str:
        return "#/" + "/".join(self.path)

    def add(self, kind: str, attribute: str | None = None, node: Node | None = None) -> None:
        """Record a difference at the current path (or at ``path/attribute``)."""
        path = self.pointer() if attribute is None else "#/" + "/".join([*self.path, attribute])
        self.diffs.append(Difference(kind, path, node))

    def compatible(self) -> bool:
        allowed = self.shared.allowed
        return all(d.type in allowed for d in self.diffs)

    def schema(self, original: Node | None, update: Node | None) -> None:
        """Compare two child schemas at the current path (``SchemaDiff.compare``)."""
        _compare(self, original, update)


def compare(old: SchemaGraph, new: SchemaGraph, allowed: frozenset[str]) -> list[Difference]:
    """Differences from ``old`` (original) to ``new`` (update), in Confluent's order."""
    seed: dict[Pair, list[Difference]] = {}
    while True:
        shared = _Shared(allowed, seed, old, new)
        ctx = Context(shared)
        _compare(ctx, old.root, new.root)
        incompatible = {k: v for k, v in shared.memo.items()
                        if any(d.type not in allowed for d in v)}
        if not shared.optimistic or incompatible.keys() == seed.keys():
            return ctx.diffs
        seed = incompatible


def compare_nodes(writer: SchemaGraph, reader: SchemaGraph, original: Node, update: Node,
                  allowed: frozenset[str]) -> list[Difference]:
    """Differences between two nodes of two graphs (one pass; cycles assumed compatible)."""
    ctx = Context(_Shared(allowed, {}, writer, reader))
    _compare(ctx, original, update)
    return ctx.diffs


def _compare(ctx: Context, original: Node | None, update: Node | None) -> None:
    if original is None and update is None:
        return
    if original is None:
        ctx.add("SCHEMA_ADDED")
        return
    if update is None:
        ctx.add("SCHEMA_REMOVED")
        return
    shared = ctx.shared
    original = shared.old.target(original) if original.kind == "ref" else original
    update = shared.new.target(update) if update.kind == "ref" else update
    if original.key == update.key and original.plain and shared.same_draft:
        return  # the same JSON without references: no differences
    diffs = _memoized(ctx, original, update, lambda sub: _compare_types(sub, original, update))
    if not ctx.path:
        ctx.diffs.extend(diffs)
        return
    prefix = ctx.pointer()
    for d in diffs:
        path = prefix if len(d.path) <= 2 else prefix + "/" + d.path[2:]
        ctx.diffs.append(Difference(d.type, path, d.node, d.detail))


def _memoized(ctx: Context, original: Node, update: Node,
              body: Callable[[Context], None]) -> list[Difference]:
    shared = ctx.shared
    key = (id(original), id(update))
    cached = shared.memo.get(key)
    if cached is not None:
        return cached
    if key in shared.in_progress:
        seeded = shared.seed.get(key)
        if seeded is not None:
            return seeded
        shared.optimistic = True
        return []
    shared.in_progress.add(key)
    shared.keep.append((original, update))
    try:
        sub = Context(shared)
        body(sub)
        shared.memo[key] = sub.diffs
        return sub.diffs
    finally:
        shared.in_progress.discard(key)


def _compare_types(ctx: Context, original: Node, update: Node) -> None:
    o_comb, u_comb = original.kind == "combined", update.kind == "combined"
    if not o_comb and u_comb:
        subs = update.a["subschemas"]
        criterion = update.a["criterion"]
        if len(subs) == 1:
            sub = ctx.sub()
            sub.schema(original, subs[0])
            if sub.compatible():
                ctx.diffs.extend(sub.diffs)
                return
        elif criterion in ("anyOf", "oneOf"):
            for candidate in subs:
                sub = ctx.sub()
                sub.schema(original, candidate)
                if sub.compatible():
                    ctx.diffs.extend(sub.diffs)
                    ctx.add("SUM_TYPE_EXTENDED")
                    return
    elif o_comb and not u_comb:
        subs = original.a["subschemas"]
        if len(subs) == 1:
            sub = ctx.sub()
            sub.schema(subs[0], update)
            if sub.compatible():
                ctx.diffs.extend(sub.diffs)
                return
        elif original.a["criterion"] == "allOf":
            for candidate in subs:
                sub = ctx.sub()
                sub.schema(candidate, update)
                if sub.compatible():
                    ctx.diffs.extend(sub.diffs)
                    ctx.add("PRODUCT_TYPE_NARROWED")
                    return
    if original.kind != update.kind:
        if original.kind == "false" or update.kind in ("empty", "true"):
            return
        ctx.add("TYPE_CHANGED")
        return
    for name, kind in (("id", "ID_CHANGED"), ("title", "TITLE_CHANGED"),
                       ("description", "DESCRIPTION_CHANGED"), ("default", "DEFAULT_CHANGED")):
        before, after = original.meta.get(name, MISSING), update.meta.get(name, MISSING)
        if (before is MISSING) != (after is MISSING) or (
                before is not MISSING and canonical(before) != canonical(after)):
            ctx.add(kind)
    handler = _HANDLERS.get(original.kind)
    if handler is not None:
        handler(ctx, original, update)


def _limits(ctx: Context, name: str, before: float | None, after: float | None,
            stem: str, *, increased: str = "INCREASED", decreased: str = "DECREASED") -> None:
    if before == after:
        return
    if before is None:
        ctx.add(f"{stem}_ADDED", name)
    elif after is None:
        ctx.add(f"{stem}_REMOVED", name)
    elif before < after:
        ctx.add(f"{stem}_{increased}", name)
    elif before > after:
        ctx.add(f"{stem}_{decreased}", name)


def _compare_string(ctx: Context, original: Node, update: Node) -> None:
    o, u = original.a, update.a
    _limits(ctx, "maxLength", o["maxLength"], u["maxLength"], "MAX_LENGTH")
    _limits(ctx, "minLength", o["minLength"], u["minLength"], "MIN_LENGTH")
    if o["pattern"] is None and u["pattern"] is not None:
        ctx.add("PATTERN_ADDED", "pattern")
    elif o["pattern"] is not None and u["pattern"] is None:
        ctx.add("PATTERN_REMOVED", "pattern")
    elif o["pattern"] is not None and o["pattern"] != u["pattern"]:
        ctx.add("PATTERN_CHANGED", "pattern")


def _compare_number(ctx: Context, original: Node, update: Node) -> None:
    o, u = original.a, update.a
    _limits(ctx, "maximum", o["maximum"], u["maximum"], "MAXIMUM")
    _limits(ctx, "minimum", o["minimum"], u["minimum"], "MINIMUM")
    _limits(ctx, "exclusiveMaximum", o["exclusiveMaximum"], u["exclusiveMaximum"],
            "EXCLUSIVE_MAXIMUM")
    _limits(ctx, "exclusiveMinimum", o["exclusiveMinimum"], u["exclusiveMinimum"],
            "EXCLUSIVE_MINIMUM")
    before, after = o["multipleOf"], u["multipleOf"]
    if before != after:
        if before is None:
            ctx.add("MULTIPLE_OF_ADDED", "multipleOf")
        elif after is None:
            ctx.add("MULTIPLE_OF_REMOVED", "multipleOf")
        elif before != 0 and after % before == 0:
            ctx.add("MULTIPLE_OF_EXPANDED", "multipleOf")
        elif after != 0 and before % after == 0:
            ctx.add("MULTIPLE_OF_REDUCED", "multipleOf")
        else:
            ctx.add("MULTIPLE_OF_CHANGED", "multipleOf")
    if o["integer"] != u["integer"]:
        ctx.add("TYPE_EXTENDED" if o["integer"] else "TYPE_NARROWED")


def _compare_enum(ctx: Context, original: Node, update: Node) -> None:
    before, after = set(original.a["values"]), set(update.a["values"])
    if before == after:
        return
    if after >= before:
        ctx.add("ENUM_ARRAY_EXTENDED", "enum")
    elif before >= after:
        ctx.add("ENUM_ARRAY_NARROWED", "enum")
    else:
        ctx.add("ENUM_ARRAY_CHANGED", "enum")


def _compare_const(ctx: Context, original: Node, update: Node) -> None:
    if canonical(original.a["value"]) != canonical(update.a["value"]):
        ctx.add("ENUM_ARRAY_CHANGED", "const")


def _compare_not(ctx: Context, original: Node, update: Node) -> None:
    ctx.path.append("not")
    sub = ctx.sub()
    sub.schema(update.a["schema"], original.a["schema"])
    ctx.add("NOT_TYPE_NARROWED" if sub.compatible() else "NOT_TYPE_EXTENDED")
    ctx.path.pop()


def _unique(nodes: list[Node]) -> list[Node]:
    seen: dict[str, Node] = {}
    for node in nodes:
        seen.setdefault(node.key, node)
    return list(seen.values())


def _compare_combined(ctx: Context, original: Node, update: Node) -> None:
    o_crit, u_crit = original.a["criterion"], update.a["criterion"]
    o_single = len(original.a["subschemas"]) == 1
    u_single = len(update.a["subschemas"]) == 1
    if o_crit != u_crit:
        if (u_crit == "anyOf" or (o_single and u_single) or (o_single and u_crit == "oneOf")
                or (u_single and o_crit == "allOf")):
            ctx.add("COMBINED_TYPE_EXTENDED")
        else:
            ctx.add("COMBINED_TYPE_CHANGED")
            return
    o_subs, u_subs = _unique(original.a["subschemas"]), _unique(update.a["subschemas"])
    if len(o_subs) < len(u_subs):
        ctx.add("PRODUCT_TYPE_EXTENDED" if u_crit == "allOf" else "SUM_TYPE_EXTENDED")
    elif len(o_subs) > len(u_subs):
        ctx.add("SUM_TYPE_NARROWED" if o_crit in ("anyOf", "oneOf") else "PRODUCT_TYPE_NARROWED")
    edges: dict[int, dict[int, list[Difference]]] = {}
    failed: dict[int, list[Difference]] = {}
    for i, o_sub in enumerate(o_subs):
        ctx.path.append(f"{o_crit}/{i}")
        for j, u_sub in enumerate(u_subs):
            sub = ctx.sub()
            sub.schema(o_sub, u_sub)
            if sub.compatible():
                edges.setdefault(i, {})[j] = sub.diffs
            elif o_sub.kind == u_sub.kind and i not in failed:
                failed[i] = sub.diffs
        ctx.path.pop()
    matching = _max_matching(edges, len(o_subs))
    for i in sorted(matching):
        ctx.diffs.extend(edges[i][matching[i]])
    if len(matching) < min(len(o_subs), len(u_subs)):
        allowed = ctx.shared.allowed
        base = len(ctx.pointer())
        detail = tuple(f"{d.type} {d.path[base:].lstrip('/') or '#/'}"
                       for i, diffs in failed.items() if i not in matching
                       for d in diffs if d.type not in allowed)
        ctx.diffs.append(Difference("COMBINED_TYPE_SUBSCHEMAS_CHANGED", ctx.pointer(),
                                    detail=detail))


def _max_matching(edges: dict[int, dict[int, list[Difference]]], left: int) -> dict[int, int]:
    """Maximum bipartite matching (augmenting paths); returns left index -> right index."""
    match_right: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges.get(i, {}):
            if j in seen:
                continue
            seen.add(j)
            if j not in match_right or augment(match_right[j], seen):
                match_right[j] = i
                return True
        return False

    for i in range(left):
        augment(i, set())
    return {i: j for j, i in match_right.items()}


_HANDLERS: dict[str, Callable[[Context, Node, Node], None]] = {
    "string": _compare_string,
    "number": _compare_number,
    "enum": _compare_enum,
    "const": _compare_const,
    "combined": _compare_combined,
    "not": _compare_not,
    "object": lambda ctx, o, u: compare_object(ctx, o, u, hashset_union_order),
    "array": compare_array,
}
