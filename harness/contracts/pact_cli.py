"""A thin wrapper of the Pact Foundation's own broker client, ``pact broker ...``.

The ``pact`` binary comes with the ``pact-python-cli`` package (a dependency of the harness). The
harness runs it with ``--output json`` and reads the broker's answer back as data; everything it
knows about the broker's HAL API is the client's, not the harness's. Credentials are the
client's own environment variables (``PACT_BROKER_TOKEN``, or ``PACT_BROKER_USERNAME`` and
``PACT_BROKER_PASSWORD``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sysconfig
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import InputError, ServiceUnavailable

__all__ = ["broker", "pact_binary"]

#: What the client prints when it cannot reach the broker (then: ServiceUnavailable, not bad input)
_UNREACHABLE = ("error sending request", "Failed to access pact broker", "Connection refused",
                "dns error", "timed out")


def pact_binary() -> str:
    """The ``pact`` executable of pact-python-cli (on PATH, or beside this Python's scripts).

    Raises:
        InputError: it is not installed.
    """
    found = shutil.which("pact")
    if found:
        return found
    candidate = Path(sysconfig.get_path("scripts")) / "pact"
    if candidate.is_file():
        return str(candidate)
    raise InputError("the Pact CLI is not installed (pip install pact-python-cli)", where="pact")


def _answer(stdout: str) -> Any:
    """The JSON document in the client's output (it may print progress lines before it)."""
    text = stdout.strip()
    for start in (0, *(i + 1 for i, ch in enumerate(text) if ch == "\n")):
        chunk = text[start:].lstrip()
        if chunk.startswith(("{", "[")):
            try:
                return json.loads(chunk)
            except json.JSONDecodeError:
                continue
    return None


def _reachable(url: str, command: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at the broker's address.

    The client retries a refused connection with back-off for about a minute before it gives up;
    a TCP connect tells the same thing at once.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"the broker URL has a bad port: {exc}", where=url) from exc
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise InputError("the broker URL must be http(s)://HOST[:PORT]", where=url)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise ServiceUnavailable(f"Pact Broker at {url} is unreachable (pact broker {command}: "
                                 f"{type(exc).__name__}: {exc})") from exc


def broker(command: str, *args: str, url: str, timeout: float = 120.0) -> Any:
    """Run ``pact broker COMMAND ARGS --broker-base-url URL --output json``.

    Returns:
        the broker's answer as the client prints it (decoded JSON).

    Raises:
        ServiceUnavailable: the broker cannot be reached (naming the URL).
        InputError: the client or the broker refused the request (its own message).
    """
    _reachable(url, command)
    argv = [pact_binary(), "broker", command, *args, "--broker-base-url", url, "--output", "json"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ}, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailable(f"pact broker {command}: no answer from {url} in "
                                 f"{timeout:.0f} s") from exc
    output = (done.stdout or "") + (done.stderr or "")
    answer = _answer(done.stdout or "")
    if done.returncode == 0 and answer is not None:
        return answer
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    message = next((ln for ln in lines if "❌" in ln or "panicked" in ln or "rror" in ln),
                   lines[-1] if lines else f"exit code {done.returncode}").lstrip("❌ ")
    if any(mark in output for mark in _UNREACHABLE):
        raise ServiceUnavailable(f"Pact Broker at {url} is unreachable (pact broker {command}: "
                                 f"{message.strip()[:300]})")
    if done.returncode == 0:
        return {"output": output.strip()}
    raise InputError(f"pact broker {command} failed: {message.strip()[:400]}", where=url)
