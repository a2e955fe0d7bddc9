"""One supervised OS process of a black-box ``command:`` agent."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["CommandProcess"]


class CommandProcess:
    """A black box's process: started with its settings in the environment, output to a log.

    Args:
        name: the agent.
        argv: the command line.
        env: the full environment.
        log: file receiving stdout and stderr (appended across restarts).
        cwd: working directory (the pipeline file's folder).
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path,
                 cwd: str | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.last_exit: int | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            try:
                self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:  # no such program: the same as crashing on start
                log.write(f"harness: cannot start {self.argv!r}: {exc}\n".encode())
                self.proc = subprocess.Popen(["false"], stdin=subprocess.DEVNULL)
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
