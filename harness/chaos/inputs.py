"""Written-down workloads: the exact inputs of a run, as data (``workload.inputs``).

Shrunk cases and incident files name their inputs one by one instead of drawing them from a
seed. Each input is a mapping::

    {"correlation_id": "pay-11-000004", "kind": "valid", "expect": "completed",
     "envelope": {...the envelope as JSON...}}      # or "body": "<base64 of the raw bytes>"

``kind`` defaults to ``valid``; ``expect`` to ``completed`` for valid inputs and
``dead_lettered`` for the others; inputs that are not ``valid`` or ``high_risk`` are sent as
raw bytes (``body``, or the ``envelope`` serialised as given). ``workload.inputs`` is a list of
such mappings, or a JSON-lines file of them (relative to the experiment file).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from harness.envelope import Envelope
from harness.errors import EnvelopeError, PipelineError
from harness.workload import WorkItem

__all__ = ["item_from_dict", "item_to_dict", "load_inputs", "write_inputs"]

_EXPECT = ("completed", "declined", "dead_lettered")


def item_to_dict(item: WorkItem) -> dict[str, Any]:
    """One input as data: the envelope when it parses as one, else the bytes in base64."""
    data: dict[str, Any] = {"correlation_id": item.correlation_id, "kind": item.kind,
                            "expect": item.expect}
    if item.envelope is not None and item.valid:
        data["envelope"] = item.envelope.to_dict()
    else:
        data["body"] = base64.b64encode(item.body).decode("ascii")
    return data


def item_from_dict(raw: Any, where: str) -> WorkItem:
    """Parse one input mapping; errors name ``where`` and the field."""
    if not isinstance(raw, dict):
        raise PipelineError("an input must be a mapping with correlation_id and envelope or "
                            "body", where=where)
    raw = {k: v for k, v in raw.items() if not str(k).startswith("__")}
    unknown = sorted(set(raw) - {"correlation_id", "kind", "expect", "envelope", "body",
                                 "valid"})
    if unknown:
        raise PipelineError(f"unknown field {unknown[0]!r} (known: body, correlation_id, "
                            "envelope, expect, kind, valid)", where=f"{where}.{unknown[0]}")
    cid = raw.get("correlation_id")
    if not isinstance(cid, str) or not cid:
        raise PipelineError("must be a non-empty string", where=f"{where}.correlation_id")
    kind = str(raw.get("kind", "valid"))
    valid = bool(raw.get("valid", kind in ("valid", "high_risk")))
    expect = raw.get("expect", {"valid": "completed", "high_risk": "declined"}.get(
        kind, "dead_lettered"))
    if expect not in _EXPECT:
        raise PipelineError(f"must be one of {', '.join(_EXPECT)}, got {expect!r}",
                            where=f"{where}.expect")
    if ("envelope" in raw) == ("body" in raw):
        raise PipelineError("give exactly one of envelope (a mapping) or body (base64)",
                            where=where)
    env: Envelope | None = None
    if "body" in raw:
        try:
            body = base64.b64decode(str(raw["body"]).encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise PipelineError(f"not base64: {exc}", where=f"{where}.body") from exc
        if valid:
            try:
                env = Envelope.from_bytes(body)
            except EnvelopeError as exc:
                raise PipelineError(f"a valid input's bytes must be an envelope: {exc}",
                                    where=f"{where}.body") from exc
    else:
        if not isinstance(raw["envelope"], dict):
            raise PipelineError("must be a mapping (the envelope as JSON)",
                                where=f"{where}.envelope")
        body = json.dumps(raw["envelope"], separators=(",", ":"), ensure_ascii=False).encode()
        if valid:
            try:
                env = Envelope.from_dict(raw["envelope"])
            except EnvelopeError as exc:
                raise PipelineError(str(exc), where=f"{where}.envelope") from exc
            body = env.to_bytes()
    if env is not None and env.correlation_id != cid:
        raise PipelineError(f"the envelope's correlation_id is {env.correlation_id!r}",
                            where=f"{where}.correlation_id")
    return WorkItem(cid, env if valid else None, body, valid, str(expect), kind)


def load_inputs(node: Any, *, base: Path, where: str) -> list[WorkItem]:
    """``workload.inputs``: a list of input mappings or a JSON-lines file of them."""
    if isinstance(node, list):
        items = [item_from_dict(x, f"{where}[{i}]") for i, x in enumerate(node)]
    elif isinstance(node, str):
        path = (base / node).resolve()
        if not path.is_file():
            raise PipelineError(f"no such inputs file {path}", where=where)
        items = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PipelineError(f"not JSON: {exc.msg}", where=f"{path}:{n}") from exc
            items.append(item_from_dict(raw, f"{path}:{n}"))
    else:
        raise PipelineError("must be a list of inputs or a JSON-lines file", where=where)
    if not items:
        raise PipelineError("must name at least one input", where=where)
    seen: set[str] = set()
    for item in items:
        if item.correlation_id in seen:
            raise PipelineError(f"two inputs share correlation_id {item.correlation_id!r}",
                                where=where)
        seen.add(item.correlation_id)
    return items


def write_inputs(items: list[WorkItem], path: Path) -> Path:
    """Write inputs as JSON lines (one mapping per line)."""
    path.write_text("".join(json.dumps(item_to_dict(i), separators=(",", ":")) + "\n"
                            for i in items), encoding="utf-8")
    return path
