"""The rides bug zoo (see docs/chaos.md)."""

from __future__ import annotations

from pathlib import Path

from harness import Context, Envelope
from harness.pipeline import load_object


def _ours(name: str):
    return load_object(f"agents.py:{name}", base=Path(__file__).parent, where="zoo.py")


eta, eta_model = _ours("eta"), _ours("eta_model")

# -- an agent that calls a dependency synchronously with no fallback (caught by latency) -------
eta_no_fallback = eta.variant(version="1.0.0-zoo-sync")


@eta_no_fallback.handler
async def estimate_blocking(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    seconds = await eta_model(ctx, p)  # BUG: no ctx.call: no timeout, no cached fallback
    ctx.emit("ride.eta_estimated", {**p, "eta_seconds": int(seconds), "eta_source": "live"})
