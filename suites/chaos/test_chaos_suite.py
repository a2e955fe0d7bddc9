"""The chaos suite: every bundled experiment on the correct pipelines is valid on every seed
tried; every bug-zoo variant is invalid and caught by the checker its experiment names.

Memory runs always; RabbitMQ runs (marked ``amqp``) need RabbitMQ at 127.0.0.1:5672 and the
amqp transport. ``HARNESS_CHAOS_SEEDS`` sets how many seeds per correct experiment (default 20)
and ``HARNESS_ZOO_SEEDS`` per zoo experiment (default 5).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import pytest

from harness.chaos.experiment import load_experiment
from harness.chaos.network import NetworkFaults
from harness.chaos.runner import run_experiment
from harness.chaos.schedule import NETWORK_FAULTS
from harness.testing import require_service, required

ROOT = Path(__file__).resolve().parents[2]
CORRECT = sorted(p for p in (ROOT / "chaos").glob("*.yaml"))
ZOO = sorted((ROOT / "chaos" / "zoo").glob("*.yaml"))
SEEDS = range(1, 1 + int(os.environ.get("HARNESS_CHAOS_SEEDS", "20")))
AMQP_SEEDS = range(1, 1 + int(os.environ.get("HARNESS_CHAOS_SEEDS_AMQP", "5")))
ZOO_SEEDS = range(101, 101 + int(os.environ.get("HARNESS_ZOO_SEEDS", "5")))
AMQP_URL = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

# latency budgets are part of the verdicts: never two chaos runs at once (conftest.py, `serial`)
pytestmark = pytest.mark.serial

BROKERS = [pytest.param("memory", id="memory"),
           pytest.param(AMQP_URL, id="amqp", marks=pytest.mark.amqp)]


def _broker(broker: str) -> str:
    if broker != "memory":
        require_service("rabbitmq")
        if importlib.util.find_spec("harness.transport.amqp") is None and not required():
            pytest.skip("harness.transport.amqp is not there yet")
    return broker


def _network(exp):
    """A Toxiproxy for experiments with network faults: TOXIPROXY_URL, else the embedded one."""
    if any(f.fault in NETWORK_FAULTS for f in exp.faults):
        return NetworkFaults()
    return None


def _explain(result) -> str:
    lines = [f"seed {result.seed}: overall {result.valid}, run folder {result.out_dir}"]
    for name, v in result.verdicts.items():
        if v.valid is not True:
            lines.append(f"  {name}: {v.valid} {dict(v.counts)} {dict(v.examples)}"[:1500])
    return "\n".join(lines)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("broker", BROKERS)
@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_pipeline_is_valid_on_every_seed(path: Path, broker: str, tmp_path: Path):
    broker = _broker(broker)
    exp = load_experiment(path)
    assert exp.expect_valid is True, f"{path.name} must expect valid"

    async def all_seeds():
        failures = []
        network = _network(exp)
        try:
            for seed in (SEEDS if broker == "memory" else AMQP_SEEDS):
                result = await run_experiment(exp, seed=seed, broker=broker, network=network,
                                              out_dir=tmp_path / f"seed{seed}")
                if result.valid is not True:
                    failures.append(_explain(result))
        finally:
            if network is not None:
                await network.aclose()
        return failures

    failures = asyncio.run(all_seeds())
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("broker", BROKERS)
@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_bug_zoo_variant_is_caught_by_its_checker(path: Path, broker: str, tmp_path: Path):
    broker = _broker(broker)
    exp = load_experiment(path)
    assert exp.expect_valid is False and exp.caught_by, f"{path.name} must name its checker"

    async def all_seeds():
        misses = []
        network = _network(exp)
        try:
            for seed in ZOO_SEEDS:
                result = await run_experiment(exp, seed=seed, broker=broker, network=network,
                                              out_dir=tmp_path / f"seed{seed}")
                if not result.expectation_met:
                    misses.append(f"expected {exp.caught_by} to catch it\n" + _explain(result))
        finally:
            if network is not None:
                await network.aclose()
        return misses

    misses = asyncio.run(all_seeds())
    assert not misses, "\n".join(misses)


def test_every_zoo_bug_of_the_issue_has_an_experiment():
    names = {p.stem for p in ZOO}
    for bug in ("ledger-no-dedup", "fresh-idempotency-key", "unvalidated-input",
                "dropped-correlation-id", "risk-score-rename", "sync-dependency-no-fallback",
                "shared-state"):
        assert bug in names, bug


@pytest.mark.amqp
@pytest.mark.timeout(600)
def test_payments_survive_faults_on_the_agent_broker_link(tmp_path: Path):
    """chaos/network/payments-broker-link.yaml: every agent reaches RabbitMQ through the proxy
    "rabbit" (on a free port the run publishes as HARNESS_PROXY_RABBIT, which the broker URL
    names), which gets latency and a bandwidth limit."""
    _broker(AMQP_URL)
    exp = load_experiment(ROOT / "chaos" / "network" / "payments-broker-link.yaml")
    via = AMQP_URL.replace("127.0.0.1:5672", "${HARNESS_PROXY_RABBIT}")
    assert via != AMQP_URL, "HARNESS_AMQP_URL must be on 127.0.0.1:5672 for this test"

    async def all_seeds():
        failures = []
        network = NetworkFaults()
        try:
            for seed in AMQP_SEEDS:
                result = await run_experiment(exp, seed=seed, broker=via, network=network,
                                              out_dir=tmp_path / f"seed{seed}")
                if result.valid is not True:
                    failures.append(_explain(result))
        finally:
            await network.aclose()
        return failures

    failures = asyncio.run(all_seeds())
    assert not failures, "\n".join(failures)
