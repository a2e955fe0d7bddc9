"""A minimal HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked bodies.

Only what the Toxiproxy API needs. A request is handed to ``handler(Request) -> Response``.
Malformed requests get Go's ``400 Bad Request`` and the connection closes; bodies over
``max_body`` bytes get a JSON 413 and the connection closes; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["Request", "Response", "serve_connection"]

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Request Entity Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_MAX_HEAD = 1 << 20


@dataclass
class Request:
    """A parsed request: method, unquoted path, lower-cased headers and the body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """A response: status, body bytes and extra headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def _render(resp: Response, *, close: bool) -> bytes:
    lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}"]
    headers = dict(resp.headers)
    headers["Date"] = email.utils.formatdate(usegmt=True)
    if resp.status != 204:
        headers["Content-Length"] = str(len(resp.body))
    if close:
        headers["Connection"] = "close"
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
        b"" if resp.status == 204 else resp.body)


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > limit:
            return None
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read and drop what the client still sends (so it sees no RST)."""
    with contextlib.suppress(Exception):
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(2.0):
            while await reader.read(1 << 16):
                pass


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           handler: Handler, *, max_body: int, idle_timeout: float = 60.0,
                           read_timeout: float = 15.0) -> None:
    """Serve requests on one connection until it closes or a request asks to close.

    Like Go's http.Server for Toxiproxy: a keep-alive connection idle for ``idle_timeout``
    seconds is closed, and a request body must arrive within ``read_timeout`` seconds.
    """
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                writer.write(_render(_plain(431, "431 Request Header Fields Too Large"),
                                     close=True))
                break
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                break
            try:
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, version = request_line.split(" ")
                if not version.startswith("HTTP/1."):
                    raise ValueError(version)
                headers: dict[str, str] = {}
                for line in header_lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or "0")
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                writer.write(_render(_plain(400, "400 Bad Request"), close=True))
                break
            conn_header = headers.get("connection", "").lower()
            close = conn_header == "close" or (
                version == "HTTP/1.0" and conn_header != "keep-alive")
            if headers.get("expect", "").lower() == "100-continue" and length <= max_body:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in headers.get("transfer-encoding", "").lower():
                try:
                    async with asyncio.timeout(read_timeout):
                        body = await _read_chunked(reader, max_body)
                except ValueError:
                    writer.write(_render(_plain(400, "400 Bad Request"), close=True))
                    break
            elif length > max_body:
                body = None
            else:
                async with asyncio.timeout(read_timeout):
                    body = await reader.readexactly(length) if length else b""
            if body is None:
                msg = json.dumps({"error": f"request body too large (limit {max_body} bytes)",
                                  "status": 413}) + "\n"
                writer.write(_render(Response(413, msg.encode(),
                                              {"Content-Type": "application/json"}), close=True))
                await _discard(reader, writer)
                break
            path = unquote(urlsplit(target).path or "/")
            resp = await handler(Request(method.upper(), path, headers, body))
            writer.write(_render(resp, close=close))
            await writer.drain()
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            TimeoutError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await writer.drain()
        writer.close()
