"""Benchmark the embedded Toxiproxy: proxied against direct, measured in the same run, on loopback.

The proxy (``harness toxiproxy serve``) and the upstream (echo / sink) each run in their own
process; this process is the client. Measured per variant (event loop, read size):

- added round-trip latency with no toxics: median and p99 over many 64-byte request/responses;
- single-connection throughput (client -> proxy -> sink) with no toxics and through a 100 ms
  latency toxic on the upstream stream (payload / total time, so the 100 ms counts against it);
- 200 concurrent connections doing small round trips: median latency and total ops/s.

Usage::

    PYTHONPATH=. python benchmarks/bench_toxiproxy.py [--quick] [--json] [--real-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


# Upstream process ------------------------------------------------------------------------------

async def _upstream_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        mode = await reader.readexactly(1)
        if mode == b"E":
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        else:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
            while length > 0:
                data = await reader.read(min(length, 1 << 20))
                if not data:
                    break
                length -= len(data)
            writer.write(b"K")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def _upstream_main() -> None:
    server = await asyncio.start_server(_upstream_conn, "127.0.0.1", 0, backlog=1024,
                                        limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# Client measurements ---------------------------------------------------------------------------

def _conn(port: int, mode: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(mode)
    return sock


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise ConnectionError("closed early")
        buf += data
    return bytes(buf)


def rtts(direct_port: int, proxy_port: int, count: int) -> tuple[list[float], list[float]]:
    """Seconds per 64-byte round trip, direct and proxied, in interleaved blocks of 100.

    Interleaving keeps both series under the same machine conditions (loaded VMs drift).
    """
    payload = b"x" * 64
    out: tuple[list[float], list[float]] = ([], [])
    with _conn(direct_port, b"E") as direct, _conn(proxy_port, b"E") as proxied:
        socks = (direct, proxied)
        for block in range(count // 100 + 2):
            for which, sock in enumerate(socks):
                for _ in range(100):
                    start = time.perf_counter()
                    sock.sendall(payload)
                    _recv_exactly(sock, 64)
                    if block >= 2:  # the first two blocks warm up
                        out[which].append(time.perf_counter() - start)
    return out


def throughput(port: int, total: int) -> float:
    """MB/s (10^6 bytes) sending ``total`` bytes to the sink through one connection."""
    block = b"\0" * (1 << 20)
    with _conn(port, b"S") as sock:
        start = time.perf_counter()
        sock.sendall(struct.pack("!Q", total))
        left = total
        while left > 0:
            n = min(left, len(block))
            sock.sendall(block[:n] if n < len(block) else block)
            left -= n
        _recv_exactly(sock, 1)
        return total / (time.perf_counter() - start) / 1e6


async def _concurrent(port: int, conns: int, rounds: int) -> tuple[list[float], float]:
    lat: list[float] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(b"E")
        for _ in range(rounds):
            start = time.perf_counter()
            writer.write(b"y" * 64)
            await reader.readexactly(64)
            lat.append(time.perf_counter() - start)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    return lat, conns * rounds / (time.perf_counter() - start)


def concurrent(port: int, conns: int, rounds: int) -> tuple[list[float], float]:
    """(round-trip latencies, ops/s) for ``conns`` connections doing ``rounds`` each."""
    import uvloop

    return uvloop.run(_concurrent(port, conns, rounds))


# Orchestration ---------------------------------------------------------------------------------

def _spawn(args: list[str], json_doc: bool) -> tuple[subprocess.Popen[str], Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    if not json_doc:
        return proc, int(proc.stdout.readline())
    text = ""
    while not text.endswith("}\n"):
        text += proc.stdout.readline()
    return proc, json.loads(text)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_variant(upstream_port: int, *, uvloop: bool, read_size: int, quick: bool,
                full: bool, real_url: str | None = None) -> dict[str, Any]:
    """All measurements for one proxy configuration (or for a real Toxiproxy at ``real_url``)."""
    proc = None
    if real_url is None:
        args = ["-m", "harness.commands.toxiproxy", "serve", "--port", "0", "--json",
                "--read-size", str(read_size)] + ([] if uvloop else ["--no-uvloop"])
        proc, info = _spawn(args, json_doc=True)
        real_url = info["url"]
    api = httpx.Client(base_url=real_url)
    api.delete("/proxies/bench")
    try:
        listen = api.post("/proxies", json={"name": "bench", "listen": "127.0.0.1:0",
                                            "upstream": f"127.0.0.1:{upstream_port}"}).json()
        port = int(listen["listen"].rsplit(":", 1)[1])
        total = (64 if quick else 200) * 1_000_000
        res: dict[str, Any] = {"loop": "uvloop" if uvloop else "asyncio", "read_size": read_size}
        if proc is None:
            res["loop"] = "real-go"
        reps = [(throughput(upstream_port, total), throughput(port, total)) for _ in range(3)]
        res["tp_direct"] = statistics.median(d for d, _ in reps)
        res["tp_proxy"] = statistics.median(p for _, p in reps)
        if full:
            n = 1000 if quick else 5000
            direct, proxied = rtts(upstream_port, port, n)
            res["rtt_direct_med"] = statistics.median(direct) * 1e6
            res["rtt_proxy_med"] = statistics.median(proxied) * 1e6
            res["rtt_direct_p99"] = _pct(direct, 0.99) * 1e6
            res["rtt_proxy_p99"] = _pct(proxied, 0.99) * 1e6
            rounds = 20 if quick else 50
            runs = [(concurrent(upstream_port, 200, rounds), concurrent(port, 200, rounds))
                    for _ in range(3)]
            lat_d = [x for (d, _), _p in runs for x in d]
            lat_p = [x for _d, (p, _) in runs for x in p]
            ops_d = statistics.median(o for (_, o), _p in runs)
            ops_p = statistics.median(o for _d, (_, o) in runs)
            res["c200_direct_med"] = statistics.median(lat_d) * 1e6
            res["c200_proxy_med"] = statistics.median(lat_p) * 1e6
            res["c200_direct_ops"] = ops_d
            res["c200_proxy_ops"] = ops_p
            api.post("/proxies/bench/toxics", json={"type": "latency", "stream": "upstream",
                                                    "attributes": {"latency": 100}})
            res["tp_latency100"] = statistics.median(throughput(port, total) for _ in range(3))
        return res
    finally:
        api.delete("/proxies/bench")
        api.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)


def render(results: list[dict[str, Any]]) -> str:
    """A plain-text table of the results."""
    lines = []
    head = (f"{'loop':8} {'read':>7} | {'tp direct':>10} {'tp proxy':>9} {'ratio':>6} "
            f"{'tp lat100':>9} | {'rtt d med':>9} {'rtt p med':>9} {'added':>6} "
            f"{'added p99':>9} | {'c200 d med':>9} {'c200 p med':>10} {'ops d':>7} {'ops p':>7}")
    lines.append(head)
    lines.append("-" * len(head))
    for r in results:
        line = (f"{r['loop']:8} {r['read_size'] // 1024:>6}K | {r['tp_direct']:>8.0f}MB "
                f"{r['tp_proxy']:>7.0f}MB {r['tp_proxy'] / r['tp_direct']:>6.2f} ")
        if "rtt_proxy_med" in r:
            line += (f"{r['tp_latency100']:>7.0f}MB | {r['rtt_direct_med']:>7.0f}us "
                     f"{r['rtt_proxy_med']:>7.0f}us "
                     f"{r['rtt_proxy_med'] - r['rtt_direct_med']:>4.0f}us "
                     f"{r['rtt_proxy_p99'] - r['rtt_direct_p99']:>7.0f}us | "
                     f"{r['c200_direct_med']:>7.0f}us {r['c200_proxy_med']:>8.0f}us "
                     f"{r['c200_direct_ops']:>7.0f} {r['c200_proxy_ops']:>7.0f}")
        else:
            line += f"{'-':>9} | (throughput only)"
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="bench", choices=["bench", "upstream"])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--real-url", default=None,
                        help="also measure a real Toxiproxy whose API is at this URL")
    args = parser.parse_args()
    if args.role == "upstream":
        import uvloop

        uvloop.run(_upstream_main())
        return 0
    up, port = _spawn([__file__, "--role", "upstream"], json_doc=False)
    try:
        variants = [(True, 32768, True), (False, 32768, True), (True, 16384, False),
                    (True, 65536, False), (True, 262144, False)]
        results = [run_variant(port, uvloop=u, read_size=r, quick=args.quick, full=f)
                   for u, r, f in variants]
        if args.real_url:
            results.append(run_variant(port, uvloop=False, read_size=32768, quick=args.quick,
                                       full=True, real_url=args.real_url))
    finally:
        up.terminate()
        up.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
