"""Pytest fixtures for consumer message pacts (registered by :mod:`harness.pytest_plugin`).

``message_pact(consumer_agent, provider="fraud")`` returns a fresh
:class:`~harness.contracts.consumer.ConsumerPact` (one pact-python ``Pact`` per test). When a
test passes, the pacts it verified are kept; at the end of the session they are merged per
(consumer, provider) and written to ``--harness-pact-dir`` (default: a temp folder, so CI never
rewrites the committed ``contracts/pacts/``). Under pytest-xdist each worker hands its pacts to
the controller, which merges and writes them once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin import PACT_DIR_OPTION

__all__ = ["PactCollector", "generated_pacts", "message_pact", "pact_registry"]


class PactCollector:
    """The pact documents of the tests that passed, merged at the end of the session."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def merged(self) -> dict[tuple[str, str], dict[str, Any]]:
        from harness.contracts.pactfiles import merge_pacts

        return merge_pacts(self.documents)

    def write(self, folder: str | Path) -> list[Path]:
        from harness.contracts.pactfiles import write_pact

        return [write_pact(doc, folder) for doc in self.merged().values()]


_collector_key = pytest.StashKey[PactCollector]()
_passed_key = pytest.StashKey[bool]()


def _collector(config: pytest.Config) -> PactCollector:
    if _collector_key not in config.stash:
        config.stash[_collector_key] = PactCollector()
    return config.stash[_collector_key]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_passed_key] = report.passed
    return report


_WORKER_KEY = "harness_pacts"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: take the pacts a worker's passing tests verified."""
    documents = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if documents:
        _collector(node.config).documents.extend(json.loads(documents))


def pytest_sessionfinish(session: pytest.Session) -> None:
    collector = session.config.stash.get(_collector_key, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller merges and writes
        if collector is not None and collector.documents:
            workeroutput[_WORKER_KEY] = json.dumps(collector.documents)
        return
    if collector is None or not collector.documents:
        return
    folder = session.config.getoption(PACT_DIR_OPTION)
    if folder is None:
        folder = session.config._tmp_path_factory.getbasetemp() / "pacts"  # type: ignore[attr-defined]
    paths = collector.write(folder)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"harness: wrote {len(paths)} pact(s) to {folder}")


@pytest.fixture(scope="session")
def pact_registry(harness_pipeline_spec: Any) -> Any:
    """The schema registry consumer examples are validated against: the pipeline's
    (``registry:`` of ``harness_pipeline_file``)."""
    from harness.contracts.registry import SchemaRegistry

    return SchemaRegistry(harness_pipeline_spec.registry_path)


@pytest.fixture(scope="session")
def generated_pacts(pytestconfig: pytest.Config) -> PactCollector:
    """The pacts written so far by passing consumer tests in this session."""
    return _collector(pytestconfig)


@pytest.fixture
def message_pact(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Factory: ``message_pact(consumer_agent, provider=NAME, params=None, registry=None)`` ->
    ConsumerPact. The registry defaults to ``pact_registry`` (the pipeline's).

    Each pact is kept only if the test passes, and merged with the other tests' at the end.
    """
    from harness.contracts.consumer import ConsumerPact

    staged: list[dict[str, Any]] = []

    def make(consumer: Any, *, provider: str, params: dict[str, Any] | None = None,
             registry: Any = None) -> ConsumerPact:
        if registry is None:
            registry = request.getfixturevalue("pact_registry")
        return ConsumerPact(consumer, provider, registry, params=params,
                            on_written=staged.append)

    yield make
    if request.node.stash.get(_passed_key, False):
        _collector(request.config).documents.extend(staged)
