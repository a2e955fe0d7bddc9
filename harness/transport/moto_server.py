"""A local SQS (and S3) endpoint: moto's server on a free loopback port.

Used by the test fixtures, ``.ci/run`` and anyone trying ``sqs://`` without AWS::

    python -m harness.transport.moto_server --detach --pidfile /tmp/moto.pid  # prints the URL
    harness --sqs-endpoint http://127.0.0.1:PORT demo --broker sqs://us-east-1
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MotoServer", "free_port"]


def free_port() -> int:
    """A loopback port free right now (bind 0, read it, release it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoServer:
    """A running ``python -m moto.server`` child process."""

    process: subprocess.Popen[bytes]
    port: int
    log: str = ""  #: the server's stderr (request log), a file left in the temp folder

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, timeout: float = 30.0) -> MotoServer:
        """Start moto on a free port and wait until it answers.

        Raises:
            RuntimeError: moto is not installed (``pip install 'moto[server]'``) or did not
                answer within ``timeout`` seconds.
        """
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="harness-moto-", suffix=".log", delete=False)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        except OSError as exc:
            raise RuntimeError(f"cannot start moto's server: {exc}") from exc
        finally:
            log.close()
        server = cls(proc, port, log.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = Path(log.name).read_text(errors="replace")
                last = err.strip().splitlines()[-1:] or ["(no output)"]
                raise RuntimeError(f"moto's server exited with {proc.returncode}: {last[0]} "
                                   "(pip install 'moto[server]')")
            try:
                with urllib.request.urlopen(server.endpoint + "/moto-api/", timeout=1):
                    return server
            except OSError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError(f"moto's server did not answer on port {port} in {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log:
            Path(self.log).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Start moto, print its endpoint, write ``--pidfile``; run until killed (or ``--detach``)."""
    parser = argparse.ArgumentParser(prog="python -m harness.transport.moto_server")
    parser.add_argument("--pidfile", help="write the server's pid here")
    parser.add_argument("--detach", action="store_true",
                        help="return once it answers, leaving the server running")
    args = parser.parse_args(argv)
    try:
        server = MotoServer.start()
    except RuntimeError as exc:
        print(f"moto_server: error: {exc}", file=sys.stderr)
        return 2
    if args.pidfile:
        with open(args.pidfile, "w") as fh:
            fh.write(f"{server.process.pid}\n")
    print(server.endpoint, flush=True)
    if args.detach:
        return 0
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
