"""Network faults: put a Toxiproxy proxy between an agent and its broker or dependency.

The same code drives the embedded server or a real Toxiproxy (``TOXIPROXY_URL``), over HTTP.
Every fault applied or cleared is written to the run's history when a recorder is given:
``fault_start`` / ``fault_end`` with ``fault`` (the toxic type, or ``down``), ``target`` (the
proxy name) and ``params`` (toxic name, stream, toxicity, attributes).

It has two faces on one object:

- synchronous (tests, scripts): :meth:`NetworkFaults.proxy` and the :class:`ProxyHandle` methods;
- asynchronous (the chaos runner, ``harness chaos run --toxiproxy``): ``await faults.prepare(
  planned)``, ``await faults.start(fault)`` / ``await faults.stop(fault)`` for a planned network
  fault window, ``await faults.heal()`` and ``await faults.aclose()``. They run the same HTTP
  calls in a worker thread, so the event loop (and the agents on it) never blocks on the API.

A planned fault's ``target`` is a proxy name; the proxy is created on first use when its params
give ``upstream`` (and ``listen``, default ``127.0.0.1:0``). Params: ``latency`` {latency_ms,
jitter_ms}, ``reset_peer`` {timeout_ms}, ``timeout`` {timeout_ms}, ``bandwidth`` {rate_kbps},
``down`` (the proxy is disabled for the window); all take ``stream`` (``downstream``) and
``toxicity`` (1.0).

Example::

    with NetworkFaults(recorder=recorder) as faults:
        broker = faults.proxy("broker", "127.0.0.1:5672")
        agent = start_agent(amqp_url=f"amqp://{broker.address}")
        broker.add_toxic("latency", latency=200, jitter=50)
        with broker.outage():
            ...
        broker.clear()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from harness.errors import HarnessError, InputError, ServiceUnavailable
from harness.history import Recorder

__all__ = ["TOXIPROXY_URL_ENV", "FaultError", "NetworkFaults", "ProxyHandle", "toxic_for"]

TOXIPROXY_URL_ENV = "TOXIPROXY_URL"
_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
          "noop")


def toxic_for(fault: Any) -> dict[str, Any]:
    """The Toxiproxy toxic (JSON body) for a planned network fault (not ``down``)."""
    p = fault.params or {}
    attributes: dict[str, int]
    if fault.fault == "latency":
        attributes = {"latency": int(p.get("latency_ms", 100)),
                      "jitter": int(p.get("jitter_ms", 0))}
    elif fault.fault in ("reset_peer", "timeout"):
        attributes = {"timeout": int(p.get("timeout_ms", 0))}
    elif fault.fault == "bandwidth":
        attributes = {"rate": int(p.get("rate_kbps", 100))}
    else:
        raise ValueError(f"{fault.fault} is not a toxic")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", fault.id)
    return {"name": name, "type": fault.fault, "stream": p.get("stream", "downstream"),
            "toxicity": float(p.get("toxicity", 1.0)), "attributes": attributes}


class FaultError(HarnessError):
    """The Toxiproxy API refused a fault; ``status`` and ``message`` are its reply."""

    def __init__(self, message: str, *, status: int, where: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{where}: {message} (HTTP {status})")


class NetworkFaults:
    """Proxies and their toxics on one Toxiproxy server (embedded or real).

    Args:
        api_url: the Toxiproxy API. ``None``: ``TOXIPROXY_URL`` if set, else an embedded server.
        embedded: force an embedded server (started in a thread, stopped by :meth:`close`).
        recorder: history to write ``fault_start`` / ``fault_end`` into.
        timeout: HTTP timeout in seconds.
    """

    def __init__(self, api_url: str | None = None, *, embedded: bool = False,
                 recorder: Recorder | None = None, timeout: float = 10.0) -> None:
        self.recorder = recorder
        self._stack = contextlib.ExitStack()
        if api_url is None and not embedded:
            api_url = os.environ.get(TOXIPROXY_URL_ENV) or None
        if api_url is None:
            from harness.chaos.toxiproxy import ToxiproxyServer

            api_url = self._stack.enter_context(ToxiproxyServer(port=0).run_in_thread())
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(base_url=self.api_url, timeout=timeout,
                                 headers={"User-Agent": "harness"})
        self.proxies: dict[str, ProxyHandle] = {}
        self.applied: dict[str, tuple[str, str]] = {}  # fault id -> (proxy, toxic or "")
        self._borrowed: set[str] = set()  # proxies that were there before: kept at close
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; returns the decoded reply (None when empty).

        Raises:
            ServiceUnavailable: the API does not answer.
            FaultError: a non-2xx reply.
        """
        try:
            with self._lock:
                resp = self.http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"Toxiproxy API at {self.api_url} does not answer: "
                                     f"{exc}") from exc
        if resp.status_code >= 300:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text.strip()
            raise FaultError(message, status=resp.status_code, where=f"{method} {path}")
        return resp.json() if resp.content else None

    def proxy(self, name: str, upstream: str, *, listen: str = "127.0.0.1:0") -> ProxyHandle:
        """Create (or re-create) a proxy named ``name`` in front of ``upstream`` (host:port)."""
        if not name or "/" in name:
            raise InputError(f"proxy name must be non-empty without '/', got {name!r}",
                             where="name")
        if ":" not in upstream:
            raise InputError(f"upstream must be host:port, got {upstream!r}", where="upstream")
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": True}
        try:
            data = self.call("POST", "/proxies", body)
        except FaultError as exc:
            if exc.status != 409:
                raise
            self.call("DELETE", f"/proxies/{name}")
            data = self.call("POST", "/proxies", body)
        handle = ProxyHandle(self, data)
        self.proxies[name] = handle
        return handle

    def ensure_proxy(self, name: str, *, upstream: str | None = None,
                     listen: str | None = None) -> ProxyHandle:
        """The proxy ``name`` as it is on the server, created when missing (needs
        ``upstream``). An existing proxy is kept with its toxics, pointed at ``upstream`` when
        that differs (a service restarted on a new free port)."""
        if name in self.proxies:
            return self._repoint(self.proxies[name], upstream)
        try:
            data = self.call("GET", f"/proxies/{name}")
        except FaultError as exc:
            if exc.status != 404:
                raise
            if not upstream:
                raise InputError(f"Toxiproxy has no proxy {name!r} and the fault gives no "
                                 "upstream to create it", where=f"target {name}") from exc
            return self.proxy(name, upstream, listen=listen or "127.0.0.1:0")
        handle = ProxyHandle(self, data)
        self.proxies[name] = handle
        self._borrowed.add(name)
        return self._repoint(handle, upstream)

    def _repoint(self, handle: ProxyHandle, upstream: str | None) -> ProxyHandle:
        if not upstream or upstream == handle.upstream:
            return handle
        data = self.call("POST", f"/proxies/{handle.name}", {"upstream": upstream})
        handle.upstream = data.get("upstream", upstream) if isinstance(data, dict) else upstream
        return handle

    # -- the asynchronous face (planned fault windows) ---------------------------------------
    def _open_window(self, fault: Any) -> None:
        p = fault.params or {}
        handle = self.ensure_proxy(fault.target, upstream=p.get("upstream"),
                                   listen=p.get("listen"))
        if fault.fault == "down":
            handle.down()
            self.applied[fault.id] = (handle.name, "")
            return
        toxic = toxic_for(fault)
        handle.add_toxic(toxic["type"], name=toxic["name"], stream=toxic["stream"],
                         toxicity=toxic["toxicity"], **toxic["attributes"])
        self.applied[fault.id] = (handle.name, toxic["name"])

    def _close_window(self, fault_id: str, proxy: str, toxic: str) -> None:
        handle = self.proxies.get(proxy)
        self.applied.pop(fault_id, None)
        if handle is None:
            return
        if not toxic:
            handle.up()
            return
        try:
            handle.remove_toxic(toxic)
        except FaultError as exc:
            if exc.status != 404:
                raise

    async def prepare(self, faults: list[Any]) -> None:
        """Create the proxies the planned network faults name, before the run connects."""
        for f in faults:
            p = f.params or {}
            if p.get("upstream"):
                await asyncio.to_thread(self.ensure_proxy, f.target, upstream=p["upstream"],
                                        listen=p.get("listen"))

    async def start(self, fault: Any) -> None:
        """Open a planned fault window (a toxic, or ``down``)."""
        await asyncio.to_thread(self._open_window, fault)

    async def stop(self, fault: Any) -> None:
        """Close a planned fault window."""
        proxy, toxic = self.applied.get(fault.id, (fault.target, ""))
        if fault.id not in self.applied and fault.fault != "down":
            return
        await asyncio.to_thread(self._close_window, fault.id, proxy, toxic)

    async def heal(self) -> None:
        """Close every window still open."""
        for fid, (proxy, toxic) in list(self.applied.items()):
            await asyncio.to_thread(self._close_window, fid, proxy, toxic)

    async def aclose(self) -> None:
        """:meth:`close` off the event loop."""
        await asyncio.to_thread(self.close)

    def record(self, kind: str, fault: str, target: str, params: dict[str, Any]) -> None:
        """Write a fault event into the history, when there is one."""
        if self.recorder is not None:
            self.recorder.record(kind, fault=fault, target=target, params=params)

    def close(self) -> None:
        """Clear and delete every proxy this object created, then stop an embedded server."""
        try:
            borrowed = self._borrowed
            for handle in list(self.proxies.values()):
                with contextlib.suppress(HarnessError):
                    handle.clear()
                if handle.name not in borrowed:  # proxies found on the server stay there
                    with contextlib.suppress(HarnessError):
                        self.call("DELETE", f"/proxies/{handle.name}")
            self.proxies.clear()
        finally:
            self.http.close()
            self._stack.close()

    def __enter__(self) -> NetworkFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProxyHandle:
    """One proxy: where to connect (``address``) and the faults applied to it.

    Attributes:
        name: the proxy's name.
        upstream: the real service (host:port).
        listen: the address the proxy is bound to (host:port).
    """

    def __init__(self, faults: NetworkFaults, data: dict[str, Any]) -> None:
        self._faults = faults
        self.name: str = data["name"]
        self.upstream: str = data["upstream"]
        self.listen: str = data["listen"]
        self.is_down = False
        self._active: dict[str, dict[str, Any]] = {}

    @property
    def host(self) -> str:
        """Host to connect to (a wildcard bind is reached on 127.0.0.1)."""
        host = self.listen.rpartition(":")[0].strip("[]")
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host

    @property
    def port(self) -> int:
        """Port the proxy listens on."""
        return int(self.listen.rpartition(":")[2])

    @property
    def address(self) -> str:
        """``host:port`` to give the agent instead of the real service."""
        return f"{self.host}:{self.port}"

    def add_toxic(self, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: int) -> dict[str, Any]:
        """Apply a toxic (Toxiproxy's names: ``add_toxic("latency", latency=100, jitter=10)``).

        Returns:
            The toxic as the server reports it: name, type, stream, toxicity, attributes.
        """
        if type not in _TYPES:
            raise InputError(f"unknown toxic type {type!r} (one of {', '.join(_TYPES)})",
                             where="type")
        if stream not in ("upstream", "downstream"):
            raise InputError(f"stream must be 'upstream' or 'downstream', got {stream!r}",
                             where="stream")
        if not 0.0 <= float(toxicity) <= 1.0:
            raise InputError(f"toxicity must be within [0, 1], got {toxicity!r}", where="toxicity")
        for key, value in attributes.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"toxic attribute must be an int, got {value!r}", where=key)
        body = {"type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        if name:
            body["name"] = name
        data = self._faults.call("POST", f"/proxies/{self.name}/toxics", body)
        self._active[data["name"]] = data
        self._faults.record("fault_start", data["type"], self.name, _params(data))
        return data

    def update_toxic(self, name: str, *, toxicity: float | None = None,
                     **attributes: int) -> dict[str, Any]:
        """Change a toxic's attributes (merged) or toxicity on live connections."""
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        data = self._faults.call("POST", f"/proxies/{self.name}/toxics/{name}", body)
        old = self._active.get(name)
        if old is not None:
            self._faults.record("fault_end", old["type"], self.name, _params(old))
        self._active[name] = data
        self._faults.record("fault_start", data["type"], self.name, _params(data))
        return data

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; data it holds is passed on."""
        self._faults.call("DELETE", f"/proxies/{self.name}/toxics/{name}")
        old = self._active.pop(name, None)
        fault = old["type"] if old else "toxic"
        self._faults.record("fault_end", fault, self.name, _params(old or {"name": name}))

    def toxics(self) -> list[dict[str, Any]]:
        """The toxics the server has on this proxy."""
        return self._faults.call("GET", f"/proxies/{self.name}/toxics")

    def down(self) -> None:
        """Outage: stop listening and close every open connection."""
        self._faults.call("POST", f"/proxies/{self.name}", {"enabled": False})
        if not self.is_down:
            self.is_down = True
            self._faults.record("fault_start", "down", self.name, {})

    def up(self) -> None:
        """End an outage: listen again on the same address."""
        self._faults.call("POST", f"/proxies/{self.name}", {"enabled": True})
        if self.is_down:
            self.is_down = False
            self._faults.record("fault_end", "down", self.name, {})

    def clear(self) -> None:
        """Remove every toxic on this proxy and end an outage."""
        for toxic in self.toxics():
            self.remove_toxic(toxic["name"])
        self.up()

    @contextlib.contextmanager
    def toxic(self, type: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """A toxic for the duration of a ``with`` block."""
        data = self.add_toxic(type, **kwargs)
        try:
            yield data
        finally:
            self.remove_toxic(data["name"])

    @contextlib.contextmanager
    def outage(self) -> Iterator[ProxyHandle]:
        """The proxy is down for the duration of a ``with`` block."""
        self.down()
        try:
            yield self
        finally:
            self.up()


def _params(toxic: dict[str, Any]) -> dict[str, Any]:
    return {k: toxic[k] for k in ("name", "stream", "toxicity", "attributes") if k in toxic}
