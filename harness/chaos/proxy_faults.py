"""Network faults through a Toxiproxy HTTP API (the real Toxiproxy or the embedded one).

The chaos runner opens and closes network fault windows through :class:`NetworkFaults`, which
speaks only Toxiproxy's documented API (``POST /proxies``, ``POST /proxies/{p}/toxics``,
``DELETE /proxies/{p}/toxics/{t}``, ``POST /proxies/{p}`` with ``enabled``), so it works with
either server. A fault's ``target`` is a proxy name; the proxy is created on first use when the
fault's params give ``listen`` and ``upstream``. Point the link you want to hurt at the proxy:
the broker URL (``--broker amqp://guest:guest@127.0.0.1:25672/`` for the agent-broker link) or
an agent's HTTP dependency URL (its pipeline ``params``).

Faults (params):

- ``latency``: ``latency_ms``, ``jitter_ms``;
- ``down``: the proxy is disabled (connections refused) for the window;
- ``reset_peer``: ``timeout_ms`` before the connection is reset (RST);
- ``timeout``: data is dropped; the connection closes after ``timeout_ms`` (0: never);
- ``bandwidth``: ``rate_kbps`` (KB/s).

All take ``stream`` (``downstream`` default, or ``upstream``) and ``toxicity`` (0..1).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from harness.chaos.schedule import NETWORK_FAULTS, PlannedFault
from harness.errors import ServiceUnavailable

__all__ = ["NetworkFaults", "toxic_for"]


def toxic_for(fault: PlannedFault) -> dict[str, Any]:
    """The Toxiproxy toxic (JSON body) for a planned network fault (not ``down``)."""
    p = fault.params
    attributes: dict[str, int]
    if fault.fault == "latency":
        attributes = {"latency": int(p.get("latency_ms", 100)),
                      "jitter": int(p.get("jitter_ms", 0))}
    elif fault.fault == "reset_peer":
        attributes = {"timeout": int(p.get("timeout_ms", 0))}
    elif fault.fault == "timeout":
        attributes = {"timeout": int(p.get("timeout_ms", 0))}
    elif fault.fault == "bandwidth":
        attributes = {"rate": int(p.get("rate_kbps", 100))}
    else:
        raise ValueError(f"{fault.fault} is not a toxic")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", fault.id)
    return {"name": name, "type": fault.fault, "stream": p.get("stream", "downstream"),
            "toxicity": float(p.get("toxicity", 1.0)), "attributes": attributes}


class NetworkFaults:
    """Network fault windows on a Toxiproxy API.

    Args:
        url: the API, e.g. ``http://127.0.0.1:8474``.
        client: an ``httpx.AsyncClient`` to use (default: a new one).
    """

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.AsyncClient(base_url=self.url, timeout=5.0,
                                                  headers={"User-Agent": "harness"})
        self.applied: dict[str, tuple[str, str]] = {}

    async def _call(self, method: str, path: str, body: Any = None,
                    ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        try:
            resp = await self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"Toxiproxy at {self.url} does not answer: {exc}") from exc
        if resp.status_code not in ok:
            raise ServiceUnavailable(f"Toxiproxy {method} {path}: {resp.status_code} "
                                     f"{resp.text[:200]}")
        return resp.json() if resp.content else None

    async def ensure_proxy(self, name: str, *, listen: str | None = None,
                           upstream: str | None = None) -> dict[str, Any]:
        """The proxy ``name``, created when missing (needs ``listen`` and ``upstream``)."""
        resp = await self.client.get(f"/proxies/{name}")
        if resp.status_code == 200:
            return resp.json()
        if not upstream:
            raise ServiceUnavailable(f"Toxiproxy has no proxy {name!r} and the fault gives no "
                                     "upstream to create it")
        return await self._call("POST", "/proxies", {"name": name, "listen": listen or
                                                     "127.0.0.1:0", "upstream": upstream,
                                                     "enabled": True})

    async def prepare(self, faults: list[PlannedFault]) -> None:
        """Create the proxies the faults name before the run connects through them."""
        for fault in faults:
            if fault.fault in NETWORK_FAULTS and fault.params.get("upstream"):
                await self.ensure_proxy(fault.target, listen=fault.params.get("listen"),
                                        upstream=fault.params["upstream"])

    async def start(self, fault: PlannedFault) -> None:
        """Open a fault window."""
        if fault.fault not in NETWORK_FAULTS:
            raise ValueError(f"{fault.fault} is not a network fault")
        proxy = fault.target
        await self.ensure_proxy(proxy, listen=fault.params.get("listen"),
                                upstream=fault.params.get("upstream"))
        if fault.fault == "down":
            await self._call("POST", f"/proxies/{proxy}", {"enabled": False})
            self.applied[fault.id] = (proxy, "")
            return
        toxic = toxic_for(fault)
        await self._call("POST", f"/proxies/{proxy}/toxics", toxic)
        self.applied[fault.id] = (proxy, toxic["name"])

    async def stop(self, fault: PlannedFault) -> None:
        """Close a fault window (heal)."""
        proxy, toxic = self.applied.pop(fault.id, (fault.target, ""))
        if fault.fault == "down":
            await self._call("POST", f"/proxies/{proxy}", {"enabled": True})
        elif toxic:
            await self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}", ok=(204, 404))

    async def heal(self) -> None:
        """Close every window this object opened."""
        for fid, (proxy, toxic) in list(self.applied.items()):
            if toxic:
                await self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}", ok=(204, 404))
            else:
                await self._call("POST", f"/proxies/{proxy}", {"enabled": True})
            self.applied.pop(fid, None)

    async def aclose(self) -> None:
        await self.client.aclose()
