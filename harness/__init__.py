"""A contract-testing and chaos harness for agent pipelines.

The front door: declare agents with :class:`Agent`, write handlers against :class:`Context`,
build messages as :class:`Envelope`, apply double-entry effects with :class:`LedgerRow`.
"""

from __future__ import annotations

from harness.agents.context import Context, Dependency
from harness.agents.sdk import Agent
from harness.agents.stores import LedgerRow
from harness.contracts.states import ProviderStates
from harness.envelope import Envelope, Producer

__version__ = "0.1.0"

__all__ = ["Agent", "Context", "Dependency", "Envelope", "LedgerRow", "Producer", "ProviderStates",
           "__version__"]
