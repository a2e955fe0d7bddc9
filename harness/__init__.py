"""A contract-testing and chaos harness for agent pipelines."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
