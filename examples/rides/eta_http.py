"""The rides ETA model as a real HTTP service, reached through a Toxiproxy proxy.

``serve`` runs a tiny HTTP/1.1 ETA service on ``SERVICE`` (127.0.0.1:18080); an experiment
starts it (``services: [../examples/rides/eta_http.py:serve]``) and puts a Toxiproxy proxy named
``eta_model`` on ``VIA`` (127.0.0.1:28080) in front of it. ``eta_http`` is the ETA agent calling
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
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from harness import Context, Envelope
from harness.pipeline import load_object

SERVICE = ("127.0.0.1", 18080)
VIA = ("127.0.0.1", 28080)

_ours = load_object("agents.py:eta", base=Path(__file__).parent, where="eta_http.py")


def _eta(driver: str, zone: str) -> int:
    return 60 + int(hashlib.sha256(f"{driver}|{zone}".encode()).hexdigest()[:8], 16) % 600


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1].decode()
        q = parse_qs(urlsplit(target).query)
        body = json.dumps({"eta_seconds": _eta(q.get("driver", [""])[0],
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
async def serve(host: str = SERVICE[0], port: int = SERVICE[1]) -> AsyncIterator[str]:
    """The ETA service for the duration of the block (yields ``host:port``)."""
    server = await asyncio.start_server(_handle, host, port, reuse_address=True)
    try:
        yield f"{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def fetch_eta(driver: str, zone: str, *, address: tuple[str, int] = VIA) -> int:
    """GET /eta from the service (through the proxy by default).

    Raises:
        ConnectionError: refused, reset, closed early or a non-200 reply.
    """
    reader, writer = await asyncio.open_connection(*address)
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
