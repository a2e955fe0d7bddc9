"""A huge schema file is refused before it is read (issue 17: hostile inputs stay bounded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts.registry import MAX_SCHEMA_BYTES, SchemaRegistry, load_json_file
from harness.errors import SchemaError


def test_a_100_mb_schema_is_refused_by_its_size_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "contracts" / "payment.requested"
    folder.mkdir(parents=True)
    huge = folder / "v1.json"
    with open(huge, "wb") as fh:  # sparse: 100 MB on paper, nothing written
        fh.truncate(100 * 1024 * 1024)
    with pytest.raises(SchemaError) as err:
        load_json_file(huge)
    assert "limit" in str(err.value) and str(huge) in str(err.value)
    with pytest.raises(SchemaError) as err:
        SchemaRegistry(tmp_path / "contracts").get("payment.requested", 1)
    assert str(MAX_SCHEMA_BYTES) in str(err.value)
