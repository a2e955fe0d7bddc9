"""Proxies: a named listener with its stored settings, toxics and open connections.

The data path (endpoints, links, toxic chains) is in :mod:`harness.chaos.toxiproxy.link`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from harness.chaos.toxiproxy.link import Connection, Endpoint
from harness.chaos.toxiproxy.toxics import ToxicSpec

__all__ = ["DIRECTIONS", "Proxy", "format_addr", "split_hostport"]

DIRECTIONS = ("upstream", "downstream")


def split_hostport(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); raises ValueError like Go's net.SplitHostPort."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if port and not port.isdigit():
        raise ValueError(f"address tcp/{port}: unknown port")
    number = int(port) if port else 0
    if not 0 <= number <= 65535:
        raise ValueError(f"address {port}: invalid port")
    return host, number


def format_addr(host: str, port: int) -> str:
    """``host:port`` with IPv6 hosts in brackets, as Go prints addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """One named proxy: its stored settings, its toxics, its listener and its connections.

    Args:
        name: the proxy's name.
        listen: ``host:port`` to bind (updated to the bound address once enabled).
        upstream: ``host:port`` dialled for each accepted client.
        read_size: bytes per socket read (one chunk).
    """

    def __init__(self, name: str, listen: str, upstream: str, *, read_size: int = 32768) -> None:
        self.name = name
        self.listen = listen or "127.0.0.1:0"
        self.upstream = upstream
        self.enabled = False
        self.read_size = read_size
        self.toxics: dict[str, ToxicSpec] = {}
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's proxy shape, upstream toxics first."""
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.toxic_list()]}

    def toxic_list(self) -> list[ToxicSpec]:
        """Toxics, upstream first then downstream, each in insertion order."""
        values = list(self.toxics.values())
        return ([t for t in values if t.direction == "upstream"]
                + [t for t in values if t.direction == "downstream"])

    async def start(self) -> None:
        """Bind and accept; raises OSError (the bind failure) and stays disabled."""
        if self.enabled:
            return
        host, port = split_hostport(self.listen)
        if host in ("", "localhost"):
            host = "127.0.0.1" if host == "localhost" or not host else host
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._client_protocol, host, port, backlog=1024)
        sockname = server.sockets[0].getsockname()
        self.listen = format_addr(sockname[0], sockname[1])
        self._server = server
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and close every connection; toxics are kept."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    def _client_protocol(self) -> Endpoint:
        endpoint = Endpoint(self.read_size)
        asyncio.get_running_loop().create_task(self._dial(endpoint))
        return endpoint

    async def _dial(self, client: Endpoint) -> None:
        """Dial upstream for an accepted client; on failure close the client, sending nothing."""
        await asyncio.sleep(0)  # let connection_made run
        client.pause("dial")
        loop = asyncio.get_running_loop()
        try:
            host, port = split_hostport(self.upstream)
            _, upstream = await loop.create_connection(
                lambda: Endpoint(self.read_size), host or "127.0.0.1", port)
        except (OSError, ValueError):
            client.close()
            return
        if not self.enabled or client.closed:
            client.close()
            upstream.close()
            return
        conn = Connection(self, client, upstream)
        self.connections.add(conn)
        conn.start(self.toxic_list())
        client.resume("dial")

    # Toxic changes, applied to every open connection --------------------------------------

    def add_toxic(self, spec: ToxicSpec) -> None:
        self.toxics[spec.name] = spec
        for conn in list(self.connections):
            conn.links[spec.direction].add(spec)

    async def update_toxic(self, spec: ToxicSpec) -> None:
        await asyncio.gather(*(conn.links[spec.direction].update(spec)
                               for conn in list(self.connections)))

    async def remove_toxic(self, name: str) -> None:
        spec = self.toxics.pop(name)
        await asyncio.gather(*(conn.links[spec.direction].remove(name)
                               for conn in list(self.connections)))

    async def reset_toxics(self) -> None:
        for name in list(self.toxics):
            await self.remove_toxic(name)
