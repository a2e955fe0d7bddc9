"""The embedded Toxiproxy server: ``async start()/stop()`` and a thread-backed runner for sync code.

Example::

    with ToxiproxyServer(port=0).run_in_thread() as url:
        httpx.post(f"{url}/proxies", json={"name": "db", "upstream": "127.0.0.1:5432"})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.chaos.toxiproxy.api import ToxiproxyApi
from harness.chaos.toxiproxy.http import Request, serve_connection
from harness.errors import InputError

__all__ = ["DEFAULT_MAX_BODY", "ToxiproxyServer"]

#: Largest request body the API reads (Go's server has no limit; see docs/toxiproxy.md).
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class ToxiproxyServer:
    """A Toxiproxy-compatible API server with its proxies, on the running event loop.

    Args:
        host: address to bind the API on (loopback by default).
        port: API port; 0 picks a free one (see :attr:`url`).
        config: a JSON file of proxies, loaded like ``toxiproxy-server -config``.
        read_size: bytes per socket read in the proxies (one chunk).
        max_body: largest request body accepted (413 beyond).
        idle_timeout: seconds an idle keep-alive API connection is kept (Go: 60).
        read_timeout: seconds allowed to read a request body (Go: 15).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8474,
                 config: str | Path | None = None, read_size: int = 32768,
                 max_body: int = DEFAULT_MAX_BODY, idle_timeout: float = 60.0,
                 read_timeout: float = 15.0) -> None:
        self.host = host
        self.port = port
        self.config = Path(config) if config is not None else None
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self.api = ToxiproxyApi(read_size=read_size)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound API."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Bind the API (and load ``config``); returns :attr:`url`.

        Raises:
            OSError: the port is taken.
            InputError: the config file is missing or not a JSON list of proxies.
        """
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  limit=1 << 20, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config is not None:
            try:
                await self.populate_file(self.config)
            except BaseException:
                await self.stop()
                raise
        return self.url

    async def populate_file(self, path: Path) -> list[dict[str, Any]]:
        """Load a config file through ``POST /populate``; returns the proxies."""
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read config: {exc.strerror}", where=str(path)) from exc
        resp = await self.api.handle(Request("POST", "/populate", {}, body))
        data = json.loads(resp.body)
        if resp.status != 201:
            raise InputError(f"populate failed: {data.get('error')}", where=str(path))
        return data.get("proxies") or []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await serve_connection(reader, writer, self.api.handle, max_body=self.max_body,
                                   idle_timeout=self.idle_timeout,
                                   read_timeout=self.read_timeout)
        finally:
            self._conns.discard(writer)

    async def stop(self) -> None:
        """Close the API and every proxy."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._conns):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for proxy in list(self.api.proxies.values()):
            await proxy.stop()
        self.api.proxies.clear()

    async def serve_forever(self) -> None:
        """Start and serve until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self, *, use_uvloop: bool = True) -> Iterator[str]:
        """Run the server on its own event loop in a daemon thread; yields the URL."""
        started = threading.Event()
        state: dict[str, Any] = {}

        def main() -> None:
            loop = _new_loop(use_uvloop)
            asyncio.set_event_loop(loop)
            state["loop"] = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                state["error"] = exc
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=main, name="toxiproxy", daemon=True)
        thread.start()
        started.wait()
        if "error" in state:
            raise state["error"]
        try:
            yield self.url
        finally:
            state["loop"].call_soon_threadsafe(state["loop"].stop)
            thread.join(10)


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
