"""``harness toxiproxy serve``: run the embedded Toxiproxy-compatible server.

    harness toxiproxy serve [--host 127.0.0.1] [--port 8474] [--config FILE] [--json]

It binds loopback by default and serves until SIGINT or SIGTERM (exit 0). With ``--json``,
stdout carries one JSON document once the server is up: ``{"url", "host", "port", "version",
"proxies"}``. A taken port or a bad config file is one error line and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.errors import InputError

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add ``toxiproxy serve``."""
    parser = subparsers.add_parser("toxiproxy", help="embedded Toxiproxy-compatible fault proxy",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="toxiproxy_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="serve the Toxiproxy HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8474, help="API port (default 8474; 0: any)")
    serve.add_argument("--config", default=None, help="JSON file of proxies to create at start")
    serve.add_argument("--read-size", type=int, default=32768,
                       help="bytes per socket read in proxies (default 32768, as Toxiproxy)")
    serve.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    add_json_flag(serve)
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until a signal; returns the exit code."""
    from harness.chaos.toxiproxy import VERSION, ToxiproxyServer

    if not 0 <= args.port <= 65535:
        raise InputError(f"port must be within 0..65535, got {args.port}", where="--port")
    if args.read_size < 1:
        raise InputError(f"must be positive, got {args.read_size}", where="--read-size")
    server = ToxiproxyServer(host=args.host, port=args.port, config=args.config,
                             read_size=args.read_size)

    async def serve() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                             where="--port") from exc
        info: dict[str, Any] = {
            "url": server.url, "host": server.host, "port": server.port, "version": VERSION,
            "proxies": [p.to_json() for p in server.api.proxies.values()]}
        if args.json:
            print_json(info)
        else:
            out_console().print(f"Toxiproxy API (embedded, {VERSION}) on {info['url']} with "
                                f"{len(info['proxies'])} proxies; Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()
        err_console().print("toxiproxy: stopped")

    _run(serve(), use_uvloop=not args.no_uvloop)
    return 0


def _run(coro: Any, *, use_uvloop: bool) -> None:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            pass
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)


def main(argv: list[str] | None = None) -> int:
    """Run this command alone (``python -m harness.commands.toxiproxy serve ...``)."""
    parser = argparse.ArgumentParser(prog="harness")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["toxiproxy", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"harness toxiproxy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
