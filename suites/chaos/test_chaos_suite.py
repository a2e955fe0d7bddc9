"""The chaos suite: every bundled experiment on the correct pipelines is valid on every seed
tried; every bug-zoo variant is invalid and caught by the checker its experiment names.

Memory runs always; RabbitMQ runs (marked ``amqp``) need RabbitMQ at 127.0.0.1:5672 and the
amqp transport. ``HARNESS_CHAOS_SEEDS`` sets how many seeds per correct experiment (default 20)
and ``HARNESS_ZOO_SEEDS`` per zoo experiment (default 5).

Redis Streams, NATS JetStream and SQS (moto's server, started on a free port) run the same
experiments (marks ``redis``, ``nats``, ``sqs``) with ``HARNESS_CHAOS_SEEDS_REDIS`` /
``_NATS`` / ``_SQS`` seeds per correct experiment and ``HARNESS_ZOO_SEEDS_REDIS`` / ``_NATS`` /
``_SQS`` per zoo experiment; unset, CI runs ``NEW_DEFAULT`` and ``ZOO_DEFAULT`` (on Redis and
NATS: media-choreography, payments-message-faults with 3 seeds and four zoo variants with 3
seeds each, ~55 s; the rest, SQS and the broker link are a local sweep that does not fit the CI
budget: the costs measured are in docs/transports.md).
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

# latency budgets are part of the verdicts: never two chaos runs of one lane at once (conftest.py,
# `serial`); the in-process memory-broker runs are a lane of their own, beside the broker runs
pytestmark = pytest.mark.serial

REDIS_URL = os.environ.get("HARNESS_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("HARNESS_NATS_URL", "nats://127.0.0.1:4222")
#: broker id -> (URL, service, correct-experiment seeds, zoo seeds); "sqs" gets moto's endpoint
NEW = {
    "redis": (REDIS_URL, "redis"),
    "nats": (NATS_URL, "nats"),
    "sqs": ("sqs://us-east-1", None),
}


def _seeds(kind: str, name: str, default: int, start: int) -> range:
    return range(start, start + int(os.environ.get(f"{kind}_{name.upper()}", str(default))))


BROKERS = [pytest.param("memory", id="memory", marks=pytest.mark.serial("memory")),
           pytest.param(AMQP_URL, id="amqp", marks=pytest.mark.amqp),
           *[pytest.param(name, id=name, marks=getattr(pytest.mark, name)) for name in NEW]]
_MOTO: list = []


def _sqs_endpoint() -> str:
    """moto's server for the session (stopped at exit), or $AWS_ENDPOINT_URL_SQS."""
    if os.environ.get("AWS_ENDPOINT_URL_SQS"):
        return os.environ["AWS_ENDPOINT_URL_SQS"]
    if not _MOTO:
        import atexit

        from harness.transport.moto_server import MotoServer

        try:
            _MOTO.append(MotoServer.start())
        except RuntimeError as exc:
            if required():
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        atexit.register(_MOTO[0].stop)
    return _MOTO[0].endpoint


def _broker(broker: str) -> str:
    if broker in NEW:
        url, service = NEW[broker]
        if service:
            require_service(service)
            return url
        return f"{url}?endpoint={_sqs_endpoint()}"
    if broker != "memory":
        require_service("rabbitmq")
        if importlib.util.find_spec("harness.transport.amqp") is None and not required():
            pytest.skip("harness.transport.amqp is not there yet")
    return broker


def _correct_seeds(broker_id: str, stem: str = "") -> range:
    if broker_id == "memory":
        return SEEDS
    if broker_id in NEW:
        return _seeds("HARNESS_CHAOS_SEEDS", broker_id, NEW_DEFAULT[broker_id].get(stem, 1), 1)
    return AMQP_SEEDS


def _zoo_seeds(broker_id: str, stem: str = "") -> range:
    if broker_id not in NEW:
        return ZOO_SEEDS
    default = ZOO_DEFAULT_SEEDS if stem in ZOO_DEFAULT[broker_id] else 0
    return _seeds("HARNESS_ZOO_SEEDS", broker_id, default, 101)


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


#: what CI runs on the new brokers by default, experiment -> seeds (docs/transports.md: the
#: cost measured; SQS costs 4-5x and runs nothing by default); HARNESS_CHAOS_SEEDS_<BROKER>=N
#: runs every experiment (and the broker link) with N seeds
NEW_DEFAULT: dict[str, dict[str, int]] = {
    "redis": {"media-choreography": 1, "payments-message-faults": 3},
    "nats": {"media-choreography": 1, "payments-message-faults": 3},
    "sqs": {},
}
#: zoo verdicts CI runs on the new brokers by default (ZOO_DEFAULT_SEEDS seeds each): the
#: issues' canonical bugs, the cheap ones; HARNESS_ZOO_SEEDS_<BROKER>=N runs every zoo variant
ZOO_DEFAULT = {
    "redis": {"ledger-no-dedup", "risk-score-rename", "sync-dependency-no-fallback",
              "unvalidated-input"},
    "nats": {"ledger-no-dedup", "risk-score-rename", "sync-dependency-no-fallback",
             "unvalidated-input"},
    "sqs": set(),
}
ZOO_DEFAULT_SEEDS = 3


#: brokers whose broker-link run CI makes by default (a few seconds each; SQS's moto: opt-in)
LINK_DEFAULT = ("redis", "nats")


def _asked(broker_id: str) -> bool:
    return f"HARNESS_CHAOS_SEEDS_{broker_id.upper()}" in os.environ


CORRECT_CASES = [
    pytest.param(path, b.values[0], id=f"{path.stem}-{b.id}", marks=b.marks)
    for path in CORRECT for b in BROKERS
    if b.id not in NEW or _asked(b.id) or path.stem in NEW_DEFAULT[b.id]]


ZOO_CASES = [
    pytest.param(path, b.values[0], id=f"{path.stem}-{b.id}", marks=b.marks)
    for path in ZOO for b in BROKERS
    if b.id not in NEW or _zoo_seeds(b.id, path.stem)]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("path", "broker"), CORRECT_CASES)
def test_correct_pipeline_is_valid_on_every_seed(path: Path, broker: str, tmp_path: Path):
    seeds = _correct_seeds(broker, path.stem)
    broker = _broker(broker)
    exp = load_experiment(path)
    assert exp.expect_valid is True, f"{path.name} must expect valid"

    async def all_seeds():
        failures = []
        network = _network(exp)
        try:
            for seed in seeds:
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
@pytest.mark.parametrize(("path", "broker"), ZOO_CASES)
def test_bug_zoo_variant_is_caught_by_its_checker(path: Path, broker: str, tmp_path: Path):
    seeds = _zoo_seeds(broker, path.stem)
    broker = _broker(broker)
    exp = load_experiment(path)
    assert exp.expect_valid is False and exp.caught_by, f"{path.name} must name its checker"

    async def all_seeds():
        misses = []
        network = _network(exp)
        try:
            for seed in seeds:
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


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [pytest.param(n, marks=getattr(pytest.mark, n)) for n in NEW
                                  if _asked(n) or n in LINK_DEFAULT])
def test_payments_survive_faults_on_the_agent_broker_link_of(name: str, tmp_path: Path):
    """The broker-link experiment on Redis, NATS and SQS: the same file with the proxy NAME on a
    free port (published as HARNESS_PROXY_<NAME>, which the broker URL names) in front of that
    broker (SQS: moto's HTTP endpoint) and its explicit latency
    tolerances times the broker's hop cost (``latency_scale``: 1 on NATS, 1.5 Redis, 4 SQS)."""
    import re
    from urllib.parse import parse_qs, urlsplit

    from harness.transport import latency_scale

    url = _broker(name)
    parts = urlsplit(url)
    endpoint = parse_qs(parts.query).get("endpoint", [None])[0]
    upstream = urlsplit(endpoint).netloc if endpoint else parts.netloc
    text = (ROOT / "chaos" / "network" / "payments-broker-link.yaml").read_text()
    assert "target: rabbit" in text and "127.0.0.1:5672" in text, "the experiment file changed"
    # the proxy NAME gets a free port, published as HARNESS_PROXY_<NAME> (as RabbitMQ's)
    text = (text.replace("127.0.0.1:5672", upstream)
            .replace("target: rabbit", f"target: {name}")
            .replace("../../examples/payments/pipeline.yaml",
                     str(ROOT / "examples" / "payments" / "pipeline.yaml")))
    scale = latency_scale(url)
    text = re.sub(r"p99 <= (\d+(?:\.\d+)?)s",
                  lambda m: f"p99 <= {float(m.group(1)) * scale:g}s", text)
    path = tmp_path / f"payments-{name}-link.yaml"
    path.write_text(text)
    exp = load_experiment(path)
    via = url.replace(upstream, "${HARNESS_PROXY_" + name.upper() + "}")
    assert via != url

    async def all_seeds():
        failures = []
        network = NetworkFaults()
        try:
            for seed in _correct_seeds(name):
                result = await run_experiment(exp, seed=seed, broker=via, network=network,
                                              out_dir=tmp_path / f"seed{seed}")
                if result.valid is not True:
                    failures.append(_explain(result))
        finally:
            await network.aclose()
        return failures

    failures = asyncio.run(all_seeds())
    assert not failures, "\n".join(failures)
