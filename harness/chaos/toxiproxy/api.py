"""Toxiproxy 2.12's HTTP API over the proxy collection: routes, status codes and error bodies.

Errors are ``{"error": msg, "status": code}`` (plus a newline, as Go's ``http.Error`` writes
them) with the status line equal to ``status``. See docs/toxiproxy.md for the differences.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

from harness.chaos.toxiproxy import gojson
from harness.chaos.toxiproxy.http import Request, Response
from harness.chaos.toxiproxy.proxy import Proxy, format_addr, split_hostport
from harness.chaos.toxiproxy.toxics import TOXIC_TYPES, Toxic, ToxicSpec

__all__ = ["VERSION", "ApiError", "ToxiproxyApi"]

VERSION = "2.12.0"
#: Go's name for populate's element type, as its decode errors print it.
_POP = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'


class ApiError(Exception):
    """An API error: the message and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _bad_body(exc: Exception) -> ApiError:
    return ApiError(f"bad request body: {exc}", 400)


def _decode_object(body: bytes, gotype: str) -> dict[str, Any]:
    try:
        value = gojson.decode_first(body)
    except gojson.GoJSONError as exc:
        raise _bad_body(exc) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_body(gojson.GoJSONError(
            f"json: cannot unmarshal {gojson.kind(value)} into Go value of type {gotype}"))
    return value


def _bind_error(listen: str, exc: OSError | ValueError) -> ApiError:
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror[0].lower() + exc.strerror[1:]
        return ApiError(f"listen tcp {listen}: bind: {text}", 500)
    return ApiError(f"listen tcp: {exc}", 500)


def resolve_listen(listen: str) -> str:
    """The address Go's ResolveTCPAddr would print for ``listen`` (used to compare)."""
    host, port = split_hostport(listen)
    if host == "localhost":
        host = "127.0.0.1"
    return format_addr(host, port) if host else f":{port}"


class ToxiproxyApi:
    """The proxy collection and the request handler.

    Args:
        read_size: bytes per socket read in proxies created through this API.
    """

    def __init__(self, *, read_size: int = 32768) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.read_size = read_size
        self.lock = asyncio.Lock()
        self._routes: list[tuple[re.Pattern[str], dict[str, Any]]] = [
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/proxies"), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (re.compile(r"/proxies/([^/]+)"), {"GET": self.proxy_show, "POST": self.proxy_update,
                                               "PATCH": self.proxy_update,
                                               "DELETE": self.proxy_delete}),
            (re.compile(r"/proxies/([^/]+)/toxics"), {"GET": self.toxic_index,
                                                      "POST": self.toxic_create}),
            (re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), {
                "GET": self.toxic_show, "POST": self.toxic_update, "PATCH": self.toxic_update,
                "DELETE": self.toxic_delete}),
            (re.compile(r"/version"), {"GET": self.version}),
        ]

    async def handle(self, request: Request) -> Response:
        """Route one request; never raises."""
        rid = os.urandom(10).hex()
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return Response(405, b"", {"X-Toxiproxy-Request-Id": rid})
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                return _text(403, "User agent not allowed", rid)
            try:
                async with self.lock:
                    status, payload = await handler(request, *match.groups())
            except ApiError as exc:
                return _error(exc.message, exc.status, rid)
            except Exception as exc:  # a bug must not take the server down
                return _error(f"internal error: {exc!r}", 500, rid)
            if status == 204:
                return Response(204, b"", {"X-Toxiproxy-Request-Id": rid})
            if isinstance(payload, bytes):
                body = payload
                ctype = "application/json;charset=utf-8"
            else:
                body = json.dumps(payload, separators=(",", ":")).encode()
                ctype = "application/json"
            return Response(status, body, {"Content-Type": ctype, "X-Toxiproxy-Request-Id": rid})
        return _text(404, "404 page not found", rid)

    def _get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    # Proxies --------------------------------------------------------------------------------

    async def proxy_index(self, request: Request) -> tuple[int, Any]:
        return 200, {name: p.to_json() for name, p in self.proxies.items()}

    async def proxy_create(self, request: Request) -> tuple[int, Any]:
        obj = _decode_object(request.body, "toxiproxy.Proxy")
        name, listen, upstream, enabled = _proxy_fields(obj)
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        if name in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = Proxy(name, listen or "", upstream, read_size=self.read_size)
        if enabled is None or enabled:
            await _start(proxy)
        self.proxies[name] = proxy
        return 201, proxy.to_json()

    async def populate(self, request: Request) -> tuple[int, Any]:
        try:
            return await self._populate(request)
        except ApiError as exc:  # populate replies with its own shape, even for errors
            return exc.status, {"error": exc.message, "status": exc.status, "proxies": None}

    async def _populate(self, request: Request) -> tuple[int, Any]:
        try:
            value = gojson.decode_first(request.body)
        except gojson.GoJSONError as exc:
            raise _bad_body(exc) from None
        if value is None:
            value = []
        if not isinstance(value, list):
            raise _bad_body(gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind(value)} into Go value of type []{_POP}"))
        entries = []
        for index, item in enumerate(value, start=1):
            if item is not None and not isinstance(item, dict):
                raise _bad_body(gojson.GoJSONError(
                    f"json: cannot unmarshal {gojson.kind(item)} into Go value of type {_POP}"))
            try:
                fields = _proxy_fields(item or {})
            except gojson.GoJSONError as exc:
                raise _bad_body(exc) from None
            entries.append((index, fields))
        for index, (name, _, upstream, _) in entries:
            if not name:
                raise ApiError(f"missing required field: name at proxy {index}", 400)
            if not upstream:
                raise ApiError(f"missing required field: upstream at proxy {index}", 400)
        done: list[Proxy] = []
        for _, (name, listen, upstream, enabled) in entries:
            try:
                done.append(await self._add_or_replace(name or "", listen or "", upstream or "",
                                                       enabled is None or enabled))
            except ApiError as exc:
                return exc.status, {"error": exc.message, "status": exc.status,
                                    "proxies": [p.to_json() for p in done] or None}
        return 201, {"proxies": [p.to_json() for p in done] or None}

    async def _add_or_replace(self, name: str, listen: str, upstream: str, start: bool) -> Proxy:
        existing = self.proxies.get(name)
        if existing is not None:
            try:
                same = (existing.listen == resolve_listen(listen or "127.0.0.1:0")
                        and existing.upstream == upstream)
            except ValueError as exc:
                raise ApiError(str(exc), 500) from None
            if same:
                return existing
            await existing.stop()
        proxy = Proxy(name, listen, upstream, read_size=self.read_size)
        if start:
            await _start(proxy)
        self.proxies[name] = proxy
        return proxy

    async def proxy_show(self, request: Request, name: str) -> tuple[int, Any]:
        return 200, self._get(name).to_json()

    async def proxy_update(self, request: Request, name: str) -> tuple[int, Any]:
        proxy = self._get(name)
        obj = _decode_object(request.body, "toxiproxy.Proxy")
        _, listen, upstream, enabled = _proxy_fields(obj)
        listen = proxy.listen if listen is None else listen
        upstream = proxy.upstream if upstream is None else upstream
        enabled = proxy.enabled if enabled is None else enabled
        try:
            differs = resolve_listen(listen) != proxy.listen or upstream != proxy.upstream
        except ValueError as exc:
            raise ApiError(str(exc), 500) from None
        if differs:
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
        if enabled != proxy.enabled:
            if enabled:
                await _start(proxy)
            else:
                await proxy.stop()
        return 200, proxy.to_json()

    async def proxy_delete(self, request: Request, name: str) -> tuple[int, Any]:
        proxy = self._get(name)
        await proxy.stop()
        del self.proxies[name]
        return 204, None

    async def reset(self, request: Request) -> tuple[int, Any]:
        for proxy in list(self.proxies.values()):
            if not proxy.enabled:
                await _start(proxy)
            await proxy.reset_toxics()
        return 204, None

    async def version(self, request: Request) -> tuple[int, Any]:
        return 200, f'{{"version": "{VERSION}"}}\n'.encode()

    # Toxics ---------------------------------------------------------------------------------

    async def toxic_index(self, request: Request, name: str) -> tuple[int, Any]:
        return 200, [t.to_json() for t in self._get(name).toxic_list()]

    async def toxic_create(self, request: Request, name: str) -> tuple[int, Any]:
        proxy = self._get(name)
        obj = _decode_object(request.body, "toxics.ToxicWrapper")
        where = "ToxicWrapper"
        try:
            tname = gojson.get_string(obj, "name", f"{where}.name") or ""
            ttype = gojson.get_string(obj, "type", f"{where}.type") or ""
            stream = gojson.get_string(obj, "stream", f"{where}.stream")
            toxicity = gojson.get_float(obj, "toxicity", f"{where}.toxicity")
            _, attrs = gojson.lookup(obj, "attributes")
            if attrs is not None and not isinstance(attrs, dict):
                raise gojson.GoJSONError(f"json: cannot unmarshal {gojson.kind(attrs)} into Go "
                                         f"struct field {where}.attributes of type "
                                         "toxics.NoopToxic")
        except gojson.GoJSONError as exc:
            raise _bad_body(exc) from None
        stream = "downstream" if stream is None else stream
        if stream.lower() not in ("upstream", "downstream"):
            raise ApiError("stream was invalid, can be either upstream or downstream", 400)
        tname = tname or f"{ttype}_{stream}"
        cls = TOXIC_TYPES.get(ttype)
        if cls is None:
            raise ApiError("invalid toxic type", 400)
        if tname in proxy.toxics:
            raise ApiError("toxic already exists", 409)
        toxic = cls(_decode_attributes(cls, attrs or {}, {}))
        spec = ToxicSpec(tname, ttype, stream, 1.0 if toxicity is None else toxicity, toxic)
        proxy.add_toxic(spec)
        return 200, spec.to_json()

    def _toxic(self, name: str, toxic: str) -> tuple[Proxy, ToxicSpec]:
        proxy = self._get(name)
        spec = proxy.toxics.get(toxic)
        if spec is None:
            raise ApiError("toxic not found", 404)
        return proxy, spec

    async def toxic_show(self, request: Request, name: str, toxic: str) -> tuple[int, Any]:
        return 200, self._toxic(name, toxic)[1].to_json()

    async def toxic_update(self, request: Request, name: str, toxic: str) -> tuple[int, Any]:
        proxy, spec = self._toxic(name, toxic)
        obj = _decode_object(request.body, "struct")
        try:
            toxicity = gojson.get_float(obj, "toxicity", "toxicity")
        except gojson.GoJSONError as exc:
            raise _bad_body(exc) from None
        _, attrs = gojson.lookup(obj, "attributes")
        if attrs is not None and not isinstance(attrs, dict):
            raise _bad_body(gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind(attrs)} into Go value of type toxics.Toxic"))
        cls = type(spec.toxic)
        merged = _decode_attributes(cls, attrs or {}, spec.toxic.attributes)
        spec.toxic = cls(merged)
        if toxicity is not None:
            spec.toxicity = toxicity
        await proxy.update_toxic(spec)
        return 200, spec.to_json()

    async def toxic_delete(self, request: Request, name: str, toxic: str) -> tuple[int, Any]:
        proxy, _ = self._toxic(name, toxic)
        await proxy.remove_toxic(toxic)
        return 204, None


def _proxy_fields(obj: dict[str, Any]) -> tuple[str | None, str | None, str | None, bool | None]:
    where = "Proxy"
    try:
        return (gojson.get_string(obj, "name", f"{where}.name"),
                gojson.get_string(obj, "listen", f"{where}.listen"),
                gojson.get_string(obj, "upstream", f"{where}.upstream"),
                gojson.get_bool(obj, "enabled", f"{where}.enabled"))
    except gojson.GoJSONError as exc:
        raise _bad_body(exc) from None


def _decode_attributes(cls: type[Toxic], attrs: dict[str, Any],
                       base: dict[str, int]) -> dict[str, int]:
    merged = dict(base)
    for attr in cls.ATTRS:
        try:
            value = gojson.get_int64(attrs, attr, f"{cls.GO_NAME}.attributes.{attr}")
        except gojson.GoJSONError as exc:
            raise _bad_body(exc) from None
        if value is not None:
            merged[attr] = value
    return merged


async def _start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except (OSError, ValueError) as exc:
        raise _bind_error(proxy.listen, exc) from None


def _error(message: str, status: int, rid: str) -> Response:
    body = json.dumps({"error": message, "status": status}, separators=(",", ":")) + "\n"
    return Response(status, body.encode(), {"Content-Type": "text/plain; charset=utf-8",
                                            "X-Content-Type-Options": "nosniff",
                                            "X-Toxiproxy-Request-Id": rid})


def _text(status: int, text: str, rid: str) -> Response:
    return Response(status, (text + "\n").encode(), {
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
        "X-Toxiproxy-Request-Id": rid})
