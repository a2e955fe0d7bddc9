"""results.json: the run's verdicts and facts, as data."""

from __future__ import annotations

import json as _json
from pathlib import Path
from typing import Any

from harness.redact import redact_text

__all__ = ["write_results"]


def write_results(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` (``RunResult.to_dict()`` or a check result) as indented JSON, atomically,
    with any URL password hidden."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(redact_text(_json.dumps(data, indent=2, default=str)) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
