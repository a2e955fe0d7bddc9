"""The rides pipeline: matching -> pricing -> ETA -> dispatch (choreographed).

Budgets (pipeline.yaml): matching 500 ms, pricing 200 ms, ETA 300 ms. The ETA agent asks the
ETA model (a dependency, simulated in-process here) under a 100 ms timeout and falls back to the
last ETA it saw for the zone (``cached_eta``), so dispatch proceeds on the cached ETA when the
model is slow or down.
"""

from __future__ import annotations

import asyncio
import hashlib

from harness import Agent, Context, Envelope
from harness.chaos.faults import dependency_delay  # for the simulated service only

RIDE = ("ride_id", "rider_id", "pickup_zone", "dropoff_zone")
#: zones with no drivers: a request there is declined
NO_DRIVERS = {"zone-remote"}


def _h(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


matching = Agent("matching", "1.0.0", consumes=["ride.requested@1"], emits=["ride.matched@1"])


@matching.handler
async def match(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if p["pickup_zone"] in NO_DRIVERS:
        await ctx.outcome("declined", "no driver in zone")
        return
    driver = f"drv-{_h(p['ride_id'], 'driver') % 900 + 100}"
    ctx.emit("ride.matched", {**{k: p[k] for k in RIDE}, "driver_id": driver})


pricing = Agent("pricing", "1.0.0", consumes=["ride.matched@1"], emits=["ride.priced@1"])


@pricing.handler
async def price(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    fare = 500 + _h(p["pickup_zone"], p["dropoff_zone"]) % 4000
    ctx.emit("ride.priced", {**p, "fare_cents": fare})


async def eta_model(ctx: Context, payload: dict) -> int:
    """The ETA model service (simulated in-process): a few ms normally. Chaos faults on it are
    applied by ``ctx.call``; a caller that bypasses ``ctx.call`` (the zoo's blocking variant)
    still meets them here, as it would meet a slow real service."""
    await dependency_delay(ctx, "eta_model")
    await asyncio.sleep(0.002)
    return 60 + _h(payload["driver_id"], payload["pickup_zone"]) % 600


def cached_eta(ctx: Context) -> int:
    """The fallback: the last live ETA seen for the pickup zone, else a conservative default."""
    return int(ctx.cache.get(("eta", ctx.message.payload["pickup_zone"]), 480))


eta = Agent("eta", "1.0.0", consumes=["ride.priced@1"], emits=["ride.eta_estimated@1"])


@eta.handler
async def estimate(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    before = ctx.used_fallback
    seconds = await ctx.call("eta_model", lambda: eta_model(ctx, p))
    source = "cached" if ctx.used_fallback and not before else "live"
    if source == "live":
        ctx.cache[("eta", p["pickup_zone"])] = seconds
    ctx.emit("ride.eta_estimated", {**p, "eta_seconds": int(seconds), "eta_source": source})


dispatch = Agent("dispatch", "1.0.0", consumes=["ride.eta_estimated@1"],
                 emits=["ride.dispatched@1"])


@dispatch.handler
async def send_driver(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    await ctx.effect("dispatch", {"ride_id": p["ride_id"], "driver_id": p["driver_id"]})
    ctx.emit("ride.dispatched", {"ride_id": p["ride_id"], "driver_id": p["driver_id"],
                                 "eta_seconds": p["eta_seconds"], "eta_source": p["eta_source"]})
    await ctx.outcome("completed")
