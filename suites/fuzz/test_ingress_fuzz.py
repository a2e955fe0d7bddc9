"""Ingress fuzzing of every bundled example pipeline's agents (issue 7).

Each in-process agent gets ``HARNESS_FUZZ_EXAMPLES`` (default 500) generated inputs with the
session seed (``--harness-seed``): valid, mutated and prompt-injected envelopes. Same as
``harness fuzz --pipeline FILE --agent NAME --examples 500 --seed S`` without its HTTP endpoints,
which ``test_http_endpoint_schemathesis`` fuzzes (Schemathesis, 200 examples per operation).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted((ROOT / "examples").glob("*/pipeline.yaml"))
#: agents whose handlers are another pipeline's (fuzzed there): payments_proto shares all but
#: the Protobuf hop (fraud -> authorization) with payments
_SHARED = {"payments_proto": {"orchestrator", "ledger", "notification"},
           "polyglot": {"orchestrator", "authorization"}}
AGENTS = [(path, name) for path in PIPELINES
          for name, spec in load_pipeline(path).agents.items()
          if spec.agent is not None and name not in _SHARED.get(path.parent.name, set())]


@pytest.mark.slow
@pytest.mark.parametrize(("pipeline", "agent"), AGENTS,
                         ids=[f"{p.parent.name}-{a}" for p, a in AGENTS])
def test_agent_ingress(harness_fuzz, pipeline: Path, agent: str) -> None:
    # an agent's HTTP endpoint has its own test below (test_http_endpoint_schemathesis)
    harness_fuzz(pipeline, agent, http=False)


#: the stateful fuzzer runs pipelines in process on the memory transport: pipelines with black
#: boxes (examples/polyglot) are fuzzed through their queues instead (tests/blackbox)
STATEFUL = [p for p in PIPELINES
            if not any(a.is_black_box for a in load_pipeline(p).agents.values())]


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", STATEFUL, ids=[p.parent.name for p in STATEFUL])
def test_pipeline_stateful(harness_seed_value: int, pipeline: Path) -> None:
    """Valid, invalid and duplicate inputs plus agent restarts: no loss, exactly once."""
    from harness.fuzz.stateful import run_stateful

    result = run_stateful(pipeline, examples=25, steps=12, seed_=harness_seed_value)
    assert result.ok, result.reproducer


HTTP_APPS = sorted({f"{ROOT / 'examples/rides/pricing_api.py'}:app"} | {
    str(p.parent / str(node["http"])) if ".py:" in str(node["http"]) else str(node["http"])
    for p in PIPELINES for node in (load_pipeline(p).raw.get("agents") or {}).values()
    if isinstance(node, dict) and node.get("http")})


@pytest.mark.slow
@pytest.mark.parametrize("app", HTTP_APPS, ids=[Path(a.split(":")[0]).stem for a in HTTP_APPS])
def test_http_endpoint_schemathesis(harness_seed_value: int, app: str) -> None:
    """Every OpenAPI-described agent endpoint: no 5xx, responses match their documented schema."""
    from harness.fuzz.http import fuzz_http

    report = fuzz_http(app, examples=200, seed_=harness_seed_value)
    assert report.ok, "\n".join(f.reproducer for f in report.failures)
