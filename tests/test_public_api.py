"""The public API is what docs/api.md says: ``harness.__all__``, pinned, each name documented."""

from __future__ import annotations

from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {"Agent", "Context", "Dependency", "Envelope", "LedgerRow", "Producer",
          "ProviderStates", "__version__"}


def test_all_is_the_documented_public_api():
    assert set(harness.__all__) == PUBLIC, "a public API change: update docs/api.md and PUBLIC"
    assert len(harness.__all__) == len(set(harness.__all__))
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in harness.__all__:
        assert f"`{name}`" in page, f"docs/api.md does not document {name}"


def test_every_public_name_is_importable_and_documented_in_code():
    for name in harness.__all__:
        obj = getattr(harness, name)
        if name != "__version__":
            assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"
            assert obj.__module__.startswith("harness."), name
    assert isinstance(harness.__version__, str) and harness.__version__


def test_star_import_gives_exactly_the_public_names():
    namespace: dict[str, object] = {}
    exec("from harness import *", namespace)
    assert {k for k in namespace if k != "__builtins__"} == PUBLIC
