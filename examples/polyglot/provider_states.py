"""Provider states of the polyglot pipeline: the payments example's (same contracts, same
inputs); `harness contracts verify --provider fraud --pipeline examples/polyglot/pipeline.yaml`
sends each state's input into the running fraud service's queue."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent.parent / "payments" / "provider_states.py"
_spec = importlib.util.spec_from_file_location("harness_user.payments_provider_states", _path)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

states = _module.states
