"""The harness's pytest plugin (registered under ``pytest11``).

Options (group "harness"):
  --harness-broker URL   transport for pipeline fixtures: ``memory`` (default) or ``amqp://...``
  --harness-seed N       seed for every random choice; printed in the header so a failure reruns
  --harness-pact-dir DIR where consumer tests write their merged pacts (default: a temp folder;
                         ``--harness-pact-dir contracts/pacts`` updates the committed ones)
  --harness-pipeline F   the pipeline file the ``agent`` and ``message_pact`` fixtures use
                         (also the ``harness_pipeline`` ini option; default: pipeline.yaml in
                         the rootdir or above it, else in the current folder)

Fixtures defined in feature modules are registered from ``FIXTURE_MODULES``.
"""

from __future__ import annotations

import os
import random

import pytest

BROKER_OPTION = "--harness-broker"
SEED_OPTION = "--harness-seed"
PACT_DIR_OPTION = "--harness-pact-dir"
PIPELINE_OPTION = "--harness-pipeline"
PIPELINE_INI = "harness_pipeline"

#: Modules whose fixtures the plugin registers (imported lazily at configure time).
FIXTURE_MODULES: tuple[str, ...] = (
    "harness.fixtures",
    "harness.chaos.network_fixtures",
    "harness.contracts.pact_fixtures",
    "harness.fuzz.fixtures",
)

_seed_key = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "agent-pipeline harness")
    group.addoption(BROKER_OPTION, default=os.environ.get("HARNESS_BROKER", "memory"),
                    help="transport for pipeline fixtures: memory (default) or amqp://...")
    group.addoption(SEED_OPTION, type=int, default=None,
                    help="seed for every random choice (default: random, printed in the header)")
    group.addoption(PACT_DIR_OPTION, default=os.environ.get("HARNESS_PACT_DIR") or None,
                    help="folder for the pacts consumer tests write (default: a temp folder)")
    group.addoption(PIPELINE_OPTION, default=os.environ.get("HARNESS_PIPELINE") or None,
                    help="pipeline file of the agent/message_pact fixtures (default: "
                    "the nearest pipeline.yaml in or above the rootdir)")
    parser.addini(PIPELINE_INI, "pipeline file of the agent/message_pact fixtures (relative to "
                  "the ini file)", default="")


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption(SEED_OPTION)
    if seed is None:
        seed = int(os.environ.get("HARNESS_SEED", random.SystemRandom().randrange(2**31)))
    config.stash[_seed_key] = seed
    import importlib

    for name in FIXTURE_MODULES:
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(importlib.import_module(name), name)


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash.get(_seed_key, None)
    broker = config.getoption(BROKER_OPTION)
    return f"harness: seed={seed} broker={broker} (rerun with {SEED_OPTION}={seed})"


def harness_seed(config: pytest.Config) -> int:
    """The session's seed."""
    return config.stash[_seed_key]
