"""The Apicurio corpus (145 varied schema pairs): every pair is checked, every witness is real.

Apicurio's verdicts follow its own rules, not Confluent's, so they are not compared one by
one; the agreement is recorded as a floor so that a regression shows.
"""

from __future__ import annotations

import json

import jsonschema

from harness.contracts.compat import check_compatibility
from tests.shared import shared_path


def _validator(schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def test_every_apicurio_pair_checks_and_witnesses_hold() -> None:
    path = shared_path("corpora", "apicurio-json-schema", "compatibility-test-data.json")
    tests = json.loads(path.read_text(encoding="utf-8"))["tests"]
    agree = 0
    witnesses = 0
    for case in tests:
        old, new = case["original"], case["updated"]
        backward = check_compatibility(old, new, "BACKWARD")
        forward = check_compatibility(old, new, "FORWARD")
        got = {(True, True): "both", (True, False): "backward",
               (False, False): "none"}.get((backward.compatible, forward.compatible), "forward")
        agree += got == case["compatibility"]
        for result in (backward, forward):
            if result.witness is None:
                continue
            writer, reader = (old, new) if result.witness.writer == "old" else (new, old)
            assert _validator(writer).is_valid(result.witness.payload), case["id"]
            assert not _validator(reader).is_valid(result.witness.payload), case["id"]
            witnesses += 1
    assert len(tests) == 145
    assert agree >= 120
    assert witnesses >= 50
