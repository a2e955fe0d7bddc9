"""Loading the Confluent Protobuf corpus (../shared/corpora/confluent-protobuf)."""

from __future__ import annotations

import json
from typing import Any

from harness.contracts.compat.proto_load import ProtoSchema, load_proto
from tests.shared import shared_path


def records() -> list[tuple[str, int, dict[str, Any]]]:
    """(file, index, record) of both corpus files, file paths replaced by their text."""
    root = shared_path("corpora", "confluent-protobuf")
    out = []
    for name in ("diff-schema-examples.json", "diff-schema-examples-with-meta.json"):
        for index, record in enumerate(json.loads((root / name).read_text(encoding="utf-8"))):
            record = dict(record)
            for side in ("original", "update"):
                text = record[f"{side}_schema"]
                if text.endswith(".proto") and "\n" not in text:
                    record[f"{side}_schema"] = (root / text).read_text(encoding="utf-8")
                # no text: a well-known type (protoc's) or Confluent's own (the harness's)
                record[f"{side}_dependencies"] = [
                    d for d in record.get(f"{side}_dependencies", []) if "dependency" in d]
            out.append((name, index, record))
    return out


def load_side(record: dict[str, Any], side: str) -> ProtoSchema:
    """Compile one side of a record with its dependencies and references."""
    deps = {d["name"]: d["dependency"] for d in record.get(f"{side}_dependencies", [])}
    refs = {r["name"]: (r["subject"], r["version"]) for r in record.get(f"{side}_references", [])}
    return load_proto(record[f"{side}_schema"], dependencies=deps, references=refs, where=side)
