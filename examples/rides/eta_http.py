"""The rides ETA model as a real HTTP service, reached through a Toxiproxy proxy.

``serve`` runs a tiny HTTP/1.1 ETA service on a free port of 127.0.0.1; an experiment starts it
(``services: [../examples/rides/eta_http.py:serve]``, published as ``HARNESS_SERVICE_SERVE``) and
puts a Toxiproxy proxy named ``eta_model`` in front of it (``upstream: ${HARNESS_SERVICE_SERVE}``,
on a free port published as ``HARNESS_PROXY_ETA_MODEL``). ``eta_http`` is the ETA agent calling
the service through the proxy with ``ctx.call("eta_model", ...)``: the pipeline's 100 ms timeout
and cached fallback apply, so network faults on that link (latency, down, reset_peer, timeout,
bandwidth) make it fall back to the cached ETA. ``eta_http_no_fallback`` is the bug-zoo variant
that calls the service directly (no timeout, no fallback).

One connection per request (``Connection: close``), so a proxy that is down refuses the next
call and a reset or a silent link hits it, as they would a real client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from harness import Context, Envelope
from harness.pipeline import load_object

#: where the proxy in front of the service is (set by ``harness chaos run`` for the run)
VIA_VARIABLE = "HARNESS_PROXY_ETA_MODEL"

_ours = load_object("agents.py:eta", base=Path(__file__).parent, where="eta_http.py")


def eta_seconds(driver: str, zone: str) -> int:
    """The ETA model's answer for a driver and a pickup zone (seconds): what the service says,
    and what a live ETA of the ETA agent must be (chaos/invariants.py)."""
    return 60 + int(hashlib.sha256(f"{driver}|{zone}".encode()).hexdigest()[:8], 16) % 600


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1].decode()
        q = parse_qs(urlsplit(target).query)
        body = json.dumps({"eta_seconds": eta_seconds(q.get("driver", [""])[0],
                                               q.get("zone", [""])[0])}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """The ETA service for the duration of the block (yields ``host:port``; port 0: a free one)."""
    server = await asyncio.start_server(_handle, host, port)
    try:
        yield f"{host}:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def _via() -> tuple[str, int]:
    address = os.environ.get(VIA_VARIABLE)
    if not address:
        raise ConnectionError(f"{VIA_VARIABLE} is not set: run this agent under an experiment "
                              "whose network fault creates the proxy eta_model")
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def fetch_eta(driver: str, zone: str, *, address: tuple[str, int] | None = None) -> int:
    """GET /eta from the service (through the proxy ``eta_model`` by default).

    Raises:
        ConnectionError: refused, reset, closed early, a non-200 reply, or no proxy address.
    """
    reader, writer = await asyncio.open_connection(*(address or _via()))
    try:
        writer.write(f"GET /eta?driver={driver}&zone={zone} HTTP/1.1\r\nHost: eta\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"ETA service answered {head[:40]!r}")
    return int(json.loads(body)["eta_seconds"])


eta_http = _ours.variant(version="1.0.0-http")


@eta_http.handler
async def estimate_http(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    before = ctx.used_fallback
    seconds = await ctx.call("eta_model", lambda: fetch_eta(p["driver_id"], p["pickup_zone"]))
    source = "cached" if ctx.used_fallback and not before else "live"
    if source == "live":
        ctx.cache[("eta", p["pickup_zone"])] = seconds
    ctx.emit("ride.eta_estimated", {**p, "eta_seconds": int(seconds), "eta_source": source})


eta_http_no_fallback = _ours.variant(version="1.0.0-zoo-http-sync")


@eta_http_no_fallback.handler
async def estimate_http_blocking(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    seconds = await fetch_eta(p["driver_id"], p["pickup_zone"])  # BUG: no timeout, no fallback
    ctx.emit("ride.eta_estimated", {**p, "eta_seconds": int(seconds), "eta_source": "live"})
