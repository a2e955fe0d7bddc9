"""Core pytest fixtures: the seed, the broker, a transport, a running pipeline, its history.

Service fixtures use an already-running local service when it answers; else they start one
with Testcontainers when a Docker engine and the ``testcontainers`` package are available;
else they skip with the reason (a failure under ``HARNESS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.history import Recorder
from harness.pytest_plugin import BROKER_OPTION, PIPELINE_INI, PIPELINE_OPTION, harness_seed
from harness.testing import SERVICES, port_open, required

__all__ = [
    "agent",
    "harness_broker_url",
    "harness_history",
    "harness_pipeline",
    "harness_pipeline_file",
    "harness_pipeline_spec",
    "harness_seed_value",
    "harness_transport",
    "rabbitmq_url",
]


@pytest.fixture(scope="session")
def harness_seed_value(pytestconfig: pytest.Config) -> int:
    """The session's seed (``--harness-seed``), printed in the report header."""
    return harness_seed(pytestconfig)


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-not-found]

        docker.from_env().ping()
        return True
    except Exception:
        return False


def _service_url(name: str, scheme_url: str) -> Iterator[str]:
    host, port, how = SERVICES[name]
    if port_open(host, port):
        yield scheme_url.format(host=host, port=port)
        return
    if _docker_available():
        try:
            from testcontainers.rabbitmq import RabbitMqContainer  # type: ignore[import-not-found]
        except ImportError:
            RabbitMqContainer = None
        if name == "rabbitmq" and RabbitMqContainer is not None:
            with RabbitMqContainer("rabbitmq:3.13-management") as container:
                url = (f"amqp://guest:guest@{container.get_container_host_ip()}:"
                       f"{container.get_exposed_port(5672)}/")
                yield url
                return
    reason = f"{name} is not running at {host}:{port} and no Docker engine (start it: {how})"
    if required():
        pytest.fail(f"{reason} (HARNESS_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL of a reachable RabbitMQ (local, or a Testcontainers one)."""
    yield from _service_url("rabbitmq", "amqp://guest:guest@{host}:{port}/")


@pytest.fixture(scope="session")
def harness_broker_url(pytestconfig: pytest.Config) -> str:
    """The broker URL (``--harness-broker``): ``memory`` or ``amqp://...``."""
    url = str(pytestconfig.getoption(BROKER_OPTION))
    if url.startswith("amqp"):
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if not port_open(parsed.hostname or "127.0.0.1", parsed.port or 5672):
            msg = f"--harness-broker {url}: nothing answers there"
            if required():
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
    return url


@pytest.fixture
def harness_history(tmp_path: Path) -> Iterator[Recorder]:
    """A history recorder writing ``history.jsonl`` in the test's temp folder."""
    with Recorder(tmp_path / "history.jsonl") as recorder:
        yield recorder


@pytest.fixture
async def harness_transport(harness_broker_url: str):
    """A connected transport for ``--harness-broker`` (queues prefixed per test)."""
    import uuid

    from harness.transport import open_transport

    transport = open_transport(harness_broker_url, prefix=f"t{uuid.uuid4().hex[:8]}.")
    await transport.connect()
    try:
        yield transport
    finally:
        await transport.close()


@pytest.fixture
def harness_pipeline(harness_broker_url: str, harness_history: Recorder, harness_seed_value: int,
                     tmp_path: Path):
    """A factory: ``async with harness_pipeline("examples/payments/pipeline.yaml") as run``.

    The run uses ``--harness-broker``, the test's history, a memory store (unless given) and
    the session seed.
    """
    from harness.pipeline import load_pipeline
    from harness.run import PipelineRun

    def make(path: str | Path, *, store: str = "memory", **kwargs) -> PipelineRun:
        spec = load_pipeline(path, overrides=kwargs.pop("overrides", None))
        return PipelineRun(spec, broker=harness_broker_url, store=store,
                           recorder=harness_history, run_dir=tmp_path, seed=harness_seed_value,
                           **kwargs)

    return make




def find_pipeline_file(config: pytest.Config) -> Path:
    """The pipeline of the ``agent``/``message_pact`` fixtures: ``--harness-pipeline`` (or
    ``HARNESS_PIPELINE``), the ``harness_pipeline`` ini option, else the nearest ``pipeline.yaml``
    in the rootdir or above it, else in the current folder.

    Raises:
        pytest.UsageError: none of those names an existing file.
    """
    given = config.getoption(PIPELINE_OPTION)
    if given:
        candidates = [Path(given)]
        how = f"{PIPELINE_OPTION} {given}"
    elif config.getini(PIPELINE_INI):
        base = config.inipath.parent if config.inipath else config.rootpath
        candidates = [base / str(config.getini(PIPELINE_INI))]
        how = f"{PIPELINE_INI} = {config.getini(PIPELINE_INI)} (ini)"
    else:
        candidates = [folder / "pipeline.yaml"
                      for folder in (config.rootpath, *config.rootpath.parents, Path.cwd())]
        how = f"no pipeline.yaml in {config.rootpath}, its parents or {Path.cwd()}"
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise pytest.UsageError(f"harness: {how}: no such pipeline file (give {PIPELINE_OPTION} "
                            f"FILE or the {PIPELINE_INI} ini option)")


@pytest.fixture(scope="session")
def harness_pipeline_file(pytestconfig: pytest.Config) -> Path:
    """The project's pipeline file (see :func:`find_pipeline_file`); override the fixture in a
    conftest.py to pick another one for a folder of tests."""
    return find_pipeline_file(pytestconfig)


@pytest.fixture(scope="session")
def harness_pipeline_spec(harness_pipeline_file: Path) -> Any:
    """The loaded :class:`~harness.pipeline.PipelineSpec` of ``harness_pipeline_file``."""
    from harness.pipeline import load_pipeline

    return load_pipeline(harness_pipeline_file)


@pytest.fixture(scope="session")
def agent(harness_pipeline_spec: Any) -> Callable[[str], tuple[Any, dict[str, Any]]]:
    """``agent(name)`` -> (Agent, params): an agent as the pipeline file configures it (its
    handler, timeouts, emitted versions) and its ``params``, for consumer pact tests."""
    spec = harness_pipeline_spec

    def get(name: str) -> tuple[Any, dict[str, Any]]:
        found = spec.agents.get(name)
        if found is None:
            raise LookupError(f"{spec.path}: no agent {name!r} (agents: "
                              f"{', '.join(spec.agents)})")
        if found.agent is None:
            raise LookupError(f"{spec.path}: {name} is a command agent; consumer pacts run "
                              "SDK agents (handler:)")
        return found.agent, dict(found.params)

    return get
