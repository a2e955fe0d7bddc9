"""Supervised OS processes: the one supervisor behind ``harness run --processes`` (SDK agents
each in a process) and black-box ``command:`` agents (:mod:`harness.blackbox.session`).

A :class:`Supervisor` starts :class:`ManagedProcess` es, restarts one that exits (recorded as
``agent_crash`` then ``agent_start``), and applies process faults: :meth:`Supervisor.kill`
(recorded ``fault_start``; ``fault_end`` when the new process is started), :meth:`~Supervisor.
pause` / :meth:`~Supervisor.resume` (SIGSTOP/SIGCONT) and :meth:`~Supervisor.restart` (SIGTERM,
started again, not counted as a crash). Every record carries the supervisor's ``tags``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.history import Recorder

__all__ = ["ManagedProcess", "Supervisor"]


class ManagedProcess:
    """One OS process: started with its environment, stdout and stderr appended to a log.

    Args:
        name: the agent.
        argv: the command line.
        env: the full environment.
        log: file receiving stdout and stderr (appended across restarts).
        cwd: working directory (None: the harness's).
    """

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path, cwd: str | None = None
    ) -> None:
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
                self.proc = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
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

    async def stop(self, timeout: float = 5.0) -> bool:
        """SIGTERM (after a SIGCONT, in case it is paused), then SIGKILL after ``timeout`` s;
        True when it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return True
        return False


class Supervisor:
    """Starts, watches and restarts processes; applies and records process faults.

    Args:
        recorder: the run's history.
        restart_delay: seconds before an exited process is started again.
        stop_timeout: seconds between SIGTERM and SIGKILL at stop and restart.
        tags: fields added to every event recorded (``supervisor: True`` always).
        on_tick: called on every round of the watch loop (e.g. to pump other histories).
    """

    def __init__(
        self,
        recorder: Recorder,
        *,
        restart_delay: float = 0.2,
        stop_timeout: float = 5.0,
        tags: dict[str, Any] | None = None,
        on_tick: Callable[[], Any] | None = None,
    ) -> None:
        self.recorder = recorder
        self.restart_delay = restart_delay
        self.stop_timeout = stop_timeout
        self.tags = {"supervisor": True, **(tags or {})}
        self.on_tick = on_tick
        self.processes: dict[str, ManagedProcess] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._kills: dict[str, dict[str, Any]] = {}  # agent -> open kill fault
        self._paused: dict[str, dict[str, Any]] = {}  # agent -> open pause fault
        self._restarting: set[str] = set()
        self._dead: set[int | None] = set()  # pids whose exit is recorded

    def _record(self, kind: str, **fields: Any) -> None:
        self.recorder.record(
            kind, **fields, **{k: v for k, v in self.tags.items() if k not in fields}
        )

    def start(self, proc: ManagedProcess) -> None:
        """Start ``proc`` under supervision (the watch loop starts with the first one)."""
        self.processes[proc.name] = proc
        proc.start()
        self._record("agent_start", agent=proc.name, pid=proc.pid)
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="supervisor")

    async def _watch(self) -> None:
        while not self._stopping:
            if self.on_tick is not None:
                self.on_tick()
            for proc in list(self.processes.values()):
                code = proc.exit_code()
                if code is None or self._stopping or proc.name in self._restarting:
                    continue
                proc.last_exit = code
                self._dead.add(proc.pid)
                self._record("agent_crash", agent=proc.name, pid=proc.pid, exit_code=code)
                await asyncio.sleep(self.restart_delay)
                if self._stopping:
                    break
                proc.start()
                self._record("agent_start", agent=proc.name, pid=proc.pid, restart=proc.starts - 1)
                killed = self._kills.pop(proc.name, None)
                if killed is not None:
                    self._record("fault_end", **killed, new_pid=proc.pid)
            await asyncio.sleep(0.05)

    def send_signal(self, name: str, sig: int) -> int | None:
        """Send ``sig`` to ``name``'s process, unrecorded; its pid."""
        proc = self.processes[name]
        proc.kill(sig)
        return proc.pid

    def kill(
        self, name: str, sig: int = signal.SIGKILL, *, fault_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Send ``sig`` (SIGKILL by default); recorded as ``fault_start`` now (with ``extra``)
        and ``fault_end`` when the watch loop has started a new process. Its fields."""
        proc = self.processes[name]
        fields = {
            "fault": "kill",
            "fault_id": fault_id or f"process:kill:{name}:{proc.starts}",
            "target": name,
            "agent": name,
            "pid": proc.pid,
            "signal": int(sig),
            **extra,
        }
        self._record("fault_start", **fields)
        self._kills[name] = fields
        proc.kill(sig)
        return fields

    def pause(self, name: str, *, fault_id: str | None = None) -> int | None:
        """SIGSTOP (it holds its deliveries, unacked, until resumed)."""
        proc = self.processes[name]
        if name in self._paused or proc.pid is None:
            return proc.pid
        fields = {
            "fault": "pause",
            "fault_id": fault_id or f"process:pause:{name}:{proc.pid}",
            "target": name,
            "agent": name,
            "pid": proc.pid,
        }
        self._record("fault_start", **fields, signal=int(signal.SIGSTOP))
        self._paused[name] = fields
        proc.kill(signal.SIGSTOP)
        return proc.pid

    def resume(self, name: str) -> None:
        """SIGCONT a paused process."""
        fields = self._paused.pop(name, None)
        if fields is None:
            return
        self.processes[name].kill(signal.SIGCONT)
        self._record("fault_end", **fields, signal=int(signal.SIGCONT))

    async def restart(self, name: str) -> None:
        """SIGTERM the process and start it again (its unacked deliveries are redelivered)."""
        proc = self.processes[name]
        self.resume(name)
        self._restarting.add(name)  # not a crash: the watch loop leaves it alone
        try:
            await proc.stop(timeout=self.stop_timeout)
            proc.start()
        finally:
            self._restarting.discard(name)
        self._record("agent_start", agent=name, pid=proc.pid, restart=proc.starts - 1)

    async def stop(self) -> None:
        """Resume paused processes, stop watching, stop every process (``agent_stop``)."""
        for name in list(self._paused):
            self.resume(name)
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        procs = list(self.processes.values())
        for proc in procs:  # a death the watch loop had no time to see: the checkers need it
            code = proc.exit_code()
            if code is not None and proc.pid not in self._dead:
                self._record("agent_crash", agent=proc.name, pid=proc.pid, exit_code=code)
        killed = await asyncio.gather(*(p.stop(timeout=self.stop_timeout) for p in procs))
        for proc, was_killed in zip(procs, killed, strict=True):
            self._record("agent_stop", agent=proc.name, pid=proc.pid,
                         exit_code=proc.exit_code(), killed=was_killed or None)
