"""Every fault the harness knows, by name, in one place.

A fault belongs to one family:

- ``message``: decided per published message by :class:`~harness.chaos.faults.FaultyTransport`
  (duplicate, delay, reorder, drop, poison, drift, resubmit);
- ``crash``: decided per delivery at a point of the agent runtime (crash on delivery, after
  the effect, before the ack); in ``--processes`` mode the agent's process SIGKILLs itself;
- ``window``: opened and closed on time by the runner's nemesis through a driver (pause,
  restart, kill, slow or down dependencies);
- ``network``: Toxiproxy toxics (latency, down, reset_peer, timeout, bandwidth).

Window faults name the driver calls that open and close them, so adding a fault is one entry
here (plus the driver method if it needs a new action). The experiment loader, the schedule,
the nemesis and the docs table all read this registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FAULTS", "FaultKind", "names"]

#: (driver, planned fault) -> awaitable; the driver is the runner's in-process or process one
Action = Callable[[Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class FaultKind:
    """One fault kind.

    Attributes:
        name: the name experiment files use.
        family: ``message``, ``crash``, ``window`` or ``network``.
        doc: one line for the docs and ``--help``.
        point: the runtime point a crash fault fires at.
        target: what ``target:`` names (``queue``, ``agent``, ``agent.dependency``, ``proxy``).
        begin / end: driver actions that open and close a window fault (end None: instant).
        processes: whether ``--processes`` runs support it.
    """

    name: str
    family: str
    doc: str
    point: str | None = None
    target: str = "agent"
    begin: Action | None = None
    end: Action | None = None
    processes: bool = True


async def _pause(d: Any, f: Any) -> None:
    await d.pause(f)


async def _resume(d: Any, f: Any) -> None:
    await d.resume(f)


async def _restart(d: Any, f: Any) -> None:
    await d.restart(f)


async def _kill(d: Any, f: Any) -> None:
    await d.kill(f)


async def _break(d: Any, f: Any) -> None:
    await d.break_dependency(f)


async def _heal(d: Any, f: Any) -> None:
    await d.heal_dependency(f)


async def _toxic_on(d: Any, f: Any) -> None:
    await d.network_start(f)


async def _toxic_off(d: Any, f: Any) -> None:
    await d.network_stop(f)


def _message(name: str, doc: str) -> FaultKind:
    return FaultKind(name, "message", doc, target="queue")


def _network(name: str, doc: str) -> FaultKind:
    return FaultKind(name, "network", doc, target="proxy", begin=_toxic_on, end=_toxic_off,
                     processes=True)


FAULTS: dict[str, FaultKind] = {k.name: k for k in (
    _message("duplicate", "publish the message again (params.copies)"),
    _message("delay", "hold the message params.ms (or [low, high]) before publishing"),
    _message("reorder", "hold the message until the next one to the queue went out"),
    _message("drop", "lose the publisher confirm (mode confirm) or the message (mode lose)"),
    _message("poison", "publish malformed bytes made from the message instead"),
    _message("drift", "publish it with another schema_version (params.version or step)"),
    _message("resubmit", "publish it, then a resubmission: same payload and idempotency key, "
             "a new message id (params.correlation: new for a new correlation id too)"),
    FaultKind("crash_on_delivery", "crash", "crash the agent as a delivery arrives",
              point="delivered"),
    FaultKind("crash_after_effect", "crash", "crash the agent right after an effect, before "
              "its ack (the double-effect window)", point="after_effect"),
    FaultKind("crash_before_ack", "crash", "crash the agent after publishing, before its ack",
              point="before_ack"),
    FaultKind("pause", "window", "freeze the agent (SIGSTOP with --processes) for the window",
              begin=_pause, end=_resume),
    FaultKind("restart", "window", "stop the agent gracefully and start it again",
              begin=_restart),
    FaultKind("kill", "window", "kill the agent abruptly (SIGKILL with --processes); the "
              "supervisor restarts it", begin=_kill),
    FaultKind("slow_dependency", "window", "ctx.call to the dependency takes "
              "params.latency_ms longer", target="agent.dependency", begin=_break, end=_heal),
    FaultKind("dependency_down", "window", "ctx.call to the dependency fails as refused",
              target="agent.dependency", begin=_break, end=_heal),
    _network("latency", "Toxiproxy latency toxic"),
    _network("down", "Toxiproxy proxy disabled"),
    _network("reset_peer", "Toxiproxy reset_peer toxic"),
    _network("timeout", "Toxiproxy timeout toxic"),
    _network("bandwidth", "Toxiproxy bandwidth toxic"),
)}


def names(*families: str) -> frozenset[str]:
    """Fault names of the given families (all when none given)."""
    return frozenset(k.name for k in FAULTS.values() if not families or k.family in families)
