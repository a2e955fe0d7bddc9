"""Fast pattern strategies draw only strings the pattern accepts, and decline what they cannot."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fuzz.patterns import simple_pattern
from harness.fuzz.strategies import PayloadStrategies

SIMPLE = ["^pay-[0-9a-z-]{1,64}$", "^[0-9]{4}$", "^[A-Z0-9]{8}$", "^x?y[ab]{0,3}z$", "^é$"]
DECLINED = [
    r"^\d+$",
    "^a(b|c)$",
    "(?i)^ab$",
    "ab",
    "^ab",
    "^a[^b]$",
    "^a+$",
    "^[a-z]*$",
    r"^\w{3}$",
    "^(",
    "^a{2,1}$",
]


@pytest.mark.parametrize("pattern", SIMPLE)
def test_every_drawn_string_matches_the_pattern(pattern):
    strategy = simple_pattern(pattern)
    assert strategy is not None

    @settings(max_examples=200, database=None, deadline=None)
    @given(strategy)
    def check(text: str) -> None:
        assert re.search(pattern, text), text

    check()


def test_the_pattern_language_is_covered_not_just_one_string():
    strategy = simple_pattern("^pay-[0-9a-z-]{1,64}$")
    assert strategy is not None
    seen: set[str] = set()

    @settings(max_examples=200, database=None, deadline=None)
    @given(strategy)
    def collect(text: str) -> None:
        seen.add(text)

    collect()
    assert len(seen) > 50
    assert not any(t.endswith("\n") for t in seen)  # ECMA-262: `$` is the very end
    assert any(len(t.rstrip("\n")) > 20 for t in seen)


@pytest.mark.parametrize("pattern", DECLINED)
def test_patterns_it_cannot_express_exactly_are_left_to_from_regex(pattern):
    assert simple_pattern(pattern) is None


def test_payload_strategies_use_it_and_stay_valid(tmp_path):
    from harness.agents.sdk import parse_ref
    from harness.contracts.registry import SchemaRegistry
    from harness.demo import default_pipeline_path
    from harness.pipeline import load_pipeline

    registry = SchemaRegistry(load_pipeline(default_pipeline_path()).registry_path)
    payloads = PayloadStrategies(registry)
    ref = parse_ref("payment.accepted@1")

    @settings(max_examples=100, database=None, deadline=None)
    @given(payloads.valid(ref), st.data())
    def check(payload, _data) -> None:
        assert registry.is_valid(ref.type, ref.version, payload)
        assert re.search("^pay-[0-9a-z-]{1,64}$", payload["payment_id"])

    check()
