"""An embedded, Toxiproxy-compatible fault proxy (Toxiproxy 2.12's HTTP API and toxics)."""

from harness.chaos.toxiproxy.api import VERSION, ToxiproxyApi
from harness.chaos.toxiproxy.server import ToxiproxyServer
from harness.chaos.toxiproxy.toxics import TOXIC_TYPES

__all__ = ["TOXIC_TYPES", "VERSION", "ToxiproxyApi", "ToxiproxyServer"]
