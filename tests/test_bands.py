"""Workload bands: every declared band is drawn, boundaries included, expectations kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bands import cover, exercised, field_bands, for_pipeline
from harness.errors import PipelineError
from harness.pipeline import load_pipeline
from harness.workload import payments_workload

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = {"properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 1000}}}


def test_numeric_edges_split_the_schema_range_into_bands():
    (fb,) = field_bands({"amount": {"edges": [250, 500], "high_risk": [500]}}, SCHEMA)
    assert [(b.label, b.high_risk) for b in fb.bands] == [
        ("1..249", False), ("250..499", False), ("500..1000", True)]


def test_values_and_absent_fields():
    (fb,) = field_bands({"memo": {"values": [None, "hi"], "high_risk": ["gift card"]}}, None)
    assert [(b.label, b.high_risk) for b in fb.bands] == [
        ("absent", False), ("'hi'", False), ("'gift card'", True)]


def test_bad_partitions_are_one_clear_error():
    with pytest.raises(PipelineError, match="amount"):
        field_bands({"amount": {"edges": [500, 250]}}, SCHEMA)
    with pytest.raises(PipelineError, match="memo"):
        field_bands({"memo": {"nope": 1}}, None)


def test_the_payments_workload_covers_every_band_with_its_boundaries():
    spec = load_pipeline(ROOT / "examples" / "payments" / "pipeline.yaml")
    bands = for_pipeline(spec)
    items = cover(payments_workload(120, 3, invalid_rate=0.1, high_risk_rate=0.15), bands, 3)
    counts = exercised(items, bands)
    assert all(n > 0 for field in counts.values() for n in field.values()), counts
    amounts = {i.envelope.payload["amount_cents"] for i in items if i.envelope is not None
               and i.kind in ("valid", "high_risk")}
    assert {1, 249_999, 250_000, 499_999, 500_000, 100_000_000} <= amounts
    # expectations still hold: the fraud agent's own rule decides the same way
    from examples.payments.agents import assess_risk
    for item in items:
        if item.kind in ("valid", "high_risk"):
            level, _ = assess_risk(item.envelope.payload, 500_000)
            assert (level == "high") == (item.kind == "high_risk"), item.envelope.payload
            assert item.body == item.envelope.to_bytes()


def test_cover_is_a_pure_function_of_the_seed():
    spec = load_pipeline(ROOT / "examples" / "payments" / "pipeline.yaml")
    one = cover(payments_workload(30, 5), for_pipeline(spec), 5)
    two = cover(payments_workload(30, 5), for_pipeline(spec), 5)
    assert [i.envelope.payload for i in one if i.envelope] == [
        i.envelope.payload for i in two if i.envelope]
    other = cover(payments_workload(30, 5), for_pipeline(spec), 6)
    assert [i.envelope.payload for i in one if i.envelope] != [
        i.envelope.payload for i in other if i.envelope]


def test_a_pipeline_without_partitions_keeps_its_workload():
    assert cover([1, 2], [], 1) == [1, 2]
