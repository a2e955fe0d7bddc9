"""Loading the Confluent JSON Schema corpora (the 2020-12 file needs trailing commas removed)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.shared import shared_path

DIFF_FILES = (
    "diff-schema-examples.json",
    "diff-schema-examples-2020-12.json",
    "diff-combined-schema-examples.json",
    "diff-combined-schema-examples-2020-12.json",
)


def load_corpus(name: str) -> list[dict[str, Any]]:
    """The records of one corpus file, loaded leniently (trailing commas allowed)."""
    text = shared_path("corpora", "confluent-json-schema", name).read_text(encoding="utf-8")
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def all_records() -> list[tuple[str, int, dict[str, Any]]]:
    """(file, index, record) for every record of the four diff files."""
    return [(name, i, r) for name in DIFF_FILES for i, r in enumerate(load_corpus(name))]
