"""Three ways to drive a Toxiproxy API: raw HTTP, toxiproxy-python (PyPI), toxiproxy-node-client.

Each driver has the same methods and raises :class:`DriverError` carrying the HTTP status on a
non-2xx reply, so that one set of conformance cases runs through all three.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from harness.testing import required

NODE_DIR = Path(__file__).parent / "node"
DRIVERS = ("raw", "python", "node")


class DriverError(Exception):
    """A non-2xx reply; ``status`` is the HTTP status (0 when the client hides it)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(f"{status} {message}")
        self.status = status


class RawDriver:
    """Plain HTTP with httpx."""

    name = "raw"
    can_update_toxic = True

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, path, json=body)
        if resp.status_code >= 300:
            raise DriverError(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def version(self) -> str:
        return self.http.get("/version").text

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        return self._call("POST", "/proxies", {"name": name, "upstream": upstream,
                                               "listen": listen})

    def get(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{name}")

    def list(self) -> dict[str, Any]:
        return self._call("GET", "/proxies")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("POST", "/populate", proxies)["proxies"] or []

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{proxy}/toxics", body)

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{proxy}/toxics/{name}")

    def update_toxic(self, proxy: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{proxy}/toxics/{name}", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def close(self) -> None:
        self.http.close()


class PythonDriver:
    """toxiproxy-python 0.1.1 (its API consumer is global: host and port are class state)."""

    name = "python"
    can_update_toxic = False

    def __init__(self, url: str) -> None:
        import toxiproxy
        from toxiproxy import exceptions

        parts = urlsplit(url)
        self.server = toxiproxy.Toxiproxy()
        self.server.update_api_consumer(parts.hostname, parts.port)
        self.errors = {exceptions.ProxyExists: 409, exceptions.NotFound: 404,
                       exceptions.InvalidToxic: 400}

    def _wrap(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except tuple(self.errors) as exc:
            raise DriverError(self.errors[type(exc)], str(exc)) from exc

    @staticmethod
    def _proxy(p: Any) -> dict[str, Any]:
        return {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled}

    def _get_obj(self, name: str) -> Any:
        from toxiproxy.api import APIConsumer
        from toxiproxy.proxy import Proxy

        data = self._wrap(APIConsumer.get, f"/proxies/{name}").json()
        return Proxy(**data)

    def version(self) -> str:
        return self.server.version().decode()

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        return self._proxy(self._wrap(self.server.create, upstream=upstream, name=name,
                                      listen=listen))

    def get(self, name: str) -> dict[str, Any]:
        return self._proxy(self._get_obj(name))

    def list(self) -> dict[str, Any]:
        return {n: self._proxy(p) for n, p in self._wrap(self.server.proxies).items()}

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        proxy = self._get_obj(name)
        self._wrap(proxy.enable if enabled else proxy.disable)
        return self.get(name)

    def delete(self, name: str) -> None:
        self._wrap(self._get_obj(name).destroy)

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._proxy(p) for p in self._wrap(self.server.populate, proxies)]

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = self._get_obj(proxy)
        self._wrap(obj.add_toxic, **body)
        name = body.get("name") or f"{body['type']}_{body.get('stream', 'downstream')}"
        return self.get_toxic(proxy, name)

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        toxic = self._get_obj(proxy).get_toxic(name)
        if toxic is None:
            raise DriverError(404, "toxic not found")
        return {"name": toxic.name, "type": toxic.type, "stream": toxic.stream,
                "toxicity": toxic.toxicity, "attributes": toxic.attributes}

    def update_toxic(self, proxy: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("toxiproxy-python has no toxic update")

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._wrap(self._get_obj(proxy).destroy_toxic, name)

    def reset(self) -> None:
        self._wrap(self.server.reset)

    def close(self) -> None:
        pass


def ensure_node_modules() -> Path:
    """toxiproxy-node-client, put by ``npm ci`` (from the committed package-lock.json) in a cache
    folder outside the source tree, keyed by the lock's hash (once, under a file lock: xdist
    workers share it); its node_modules folder. Skips without node (fails under CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        reason = "node and npm are needed for the toxiproxy-node-client driver"
        if required():
            pytest.fail(f"{reason} (HARNESS_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    where = cache / "agent-harness" / f"toxiproxy-node-{digest}"
    where.mkdir(parents=True, exist_ok=True)
    with open(where / ".lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / "node_modules" / "toxiproxy-node-client").is_dir():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(NODE_DIR / name, where / name)
            proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=where,
                                  capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                reason = f"npm ci failed in {where}: {proc.stderr.strip()[-400:]}"
                if required():
                    pytest.fail(reason, pytrace=False)
                pytest.skip(reason)
    return where / "node_modules"


class NodeDriver:
    """toxiproxy-node-client 4.x, driven through a long-running node process (driver.js)."""

    name = "node"
    can_update_toxic = True

    def __init__(self, url: str) -> None:
        modules = ensure_node_modules()
        self.proc = subprocess.Popen(
            ["node", str(NODE_DIR / "driver.js"), url], cwd=NODE_DIR, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "NODE_NO_WARNINGS": "1", "NODE_PATH": str(modules)})
        self.lock = threading.Lock()
        self.next_id = 0

    def _call(self, op: str, **args: Any) -> Any:
        with self.lock:
            self.next_id += 1
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
            reply = json.loads(self.proc.stdout.readline())
        if not reply["ok"]:
            raise DriverError(reply["status"], reply["error"])
        return reply["result"]

    def version(self) -> str:
        return self._call("version")

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        return self._call("create", name=name, upstream=upstream, listen=listen)

    def get(self, name: str) -> dict[str, Any]:
        return self._call("get", name=name)

    def list(self) -> dict[str, Any]:
        return self._call("list")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return self._call("update", name=name, body={"enabled": enabled})

    def delete(self, name: str) -> None:
        self._call("remove", name=name)

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._call("populate", proxies=proxies)

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("addToxic", proxy=proxy, body=body)

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return self._call("getToxic", proxy=proxy, name=name)

    def update_toxic(self, proxy: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("updateToxic", proxy=proxy, name=name, body=body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("removeToxic", proxy=proxy, name=name)

    def reset(self) -> None:
        self._call("reset")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def make_driver(kind: str, url: str) -> Any:
    """A driver by name: ``raw``, ``python`` or ``node``."""
    return {"raw": RawDriver, "python": PythonDriver, "node": NodeDriver}[kind](url)
