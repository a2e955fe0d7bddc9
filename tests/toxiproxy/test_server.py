"""The embedded server itself: in-process start/stop, the CLI, config files, a taken port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.chaos.toxiproxy import VERSION, ToxiproxyServer
from harness.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def _serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "toxiproxy", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _json_doc(proc: subprocess.Popen[str]) -> dict:
    assert proc.stdout is not None
    text = ""
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        text += line
        if line.startswith("}"):
            return json.loads(text)


async def test_async_start_stop_binds_loopback():
    server = ToxiproxyServer(port=0)
    url = await server.start()
    assert url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/version")).json() == {"version": VERSION}
    await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/version")


def test_run_in_thread_with_config(tmp_path):
    cfg = tmp_path / "proxies.json"
    cfg.write_text(json.dumps([{"name": "cfg", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
                               {"name": "off", "upstream": "127.0.0.1:9", "enabled": False}]))
    with ToxiproxyServer(port=0, config=cfg).run_in_thread() as url:
        proxies = httpx.get(f"{url}/proxies").json()
        assert proxies["cfg"]["enabled"] is True
        assert proxies["off"]["enabled"] is False


def test_bad_config_and_taken_port(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"upstream": "127.0.0.1:9"}]')
    with pytest.raises(InputError, match="missing required field: name at proxy 1"):
        with ToxiproxyServer(port=0, config=bad).run_in_thread():
            pass
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        with pytest.raises(OSError):
            with ToxiproxyServer(port=holder.getsockname()[1]).run_in_thread():
                pass
    finally:
        holder.close()


def test_cli_serve_json_and_sigterm(tmp_path):
    cfg = tmp_path / "proxies.json"
    cfg.write_text(json.dumps([{"name": "cli", "upstream": "127.0.0.1:9",
                                "listen": "127.0.0.1:0"}]))
    proc = _serve("--port", "0", "--config", str(cfg), "--json")
    try:
        info = _json_doc(proc)
        assert info["host"] == "127.0.0.1" and info["version"] == VERSION
        assert [p["name"] for p in info["proxies"]] == ["cli"]
        assert httpx.get(f"{info['url']}/proxies").json()["cli"]["upstream"] == "127.0.0.1:9"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_cli_taken_port_is_exit_2():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        proc = _serve("--port", str(holder.getsockname()[1]), "--json")
        _, err = proc.communicate(timeout=20)
    finally:
        holder.close()
    assert proc.returncode == 2
    assert "error" in err and "--port" in err


def test_idle_and_slow_api_connections_are_closed():
    server = ToxiproxyServer(port=0, idle_timeout=0.3, read_timeout=0.3)
    with server.run_in_thread() as url:
        for data in (b"", b"POST /proxies HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(data)
                start = time.monotonic()
                assert sock.recv(100) == b""
                assert time.monotonic() - start < 3
        assert httpx.get(f"{url}/version").status_code == 200
