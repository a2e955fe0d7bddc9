"""Fault schedules: a pure function of the seed (same seed, same plan).

A :class:`FaultSpec` is what an experiment file asks for (what, where, when, how long, with what
probability); :func:`plan` turns specs and a seed into :class:`PlannedFault` windows. Per-message
decisions (does this duplicate fire for this message?) use :func:`decide`, a hash of the seed,
the fault and the message's identity, so they do not depend on the order in which messages
happen to arrive.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.fault_registry import names

__all__ = [
    "MESSAGE_FAULTS",
    "NETWORK_FAULTS",
    "PINNABLE_FAULTS",
    "PROCESS_FAULTS",
    "WINDOW_FAULTS",
    "FaultSpec",
    "PlannedFault",
    "decide",
    "fraction",
    "message_key",
    "plan",
]

#: faults the harness applies to each published message (harness/chaos/faults.py)
MESSAGE_FAULTS = names("message")
#: faults applied to agents (crash points and windows)
PROCESS_FAULTS = names("crash", "window")
#: Toxiproxy toxics (harness/chaos/network.py)
NETWORK_FAULTS = names("network")
#: faults that are windows in time (start, then end) rather than per-message decisions
WINDOW_FAULTS = names("window", "network")
ALL_FAULTS = names()
#: faults that act on one message, so they can be pinned to it (``message`` or
#: ``correlation`` + ``hop``) instead of drawn by probability
PINNABLE_FAULTS = names("message", "crash")

Range = float | tuple[float, float]


@dataclass(frozen=True)
class FaultSpec:
    """One fault as an experiment file declares it.

    Attributes:
        fault: its kind (one of ``ALL_FAULTS``).
        target: an agent name, ``agent.dependency`` for dependency faults, a proxy name for
            network faults, or ``*`` for every agent.
        at: seconds after the run starts (a number, or [low, high] drawn from the seed).
        duration: seconds it lasts (number or [low, high]); None: until the run ends.
        probability: chance per message (message and crash faults).
        repeat: how many windows.
        max: most times a per-message fault may fire (None: no limit).
        params: fault parameters (``ms``, ``latency_ms``, ``version``, ``mode``...).
        line: where it was declared (for errors).
        message: pinned: fire on the message with this message id only.
        correlation: pinned: fire on messages of this correlation only (with ``hop``: the one
            that many handoffs from the ingress input, which is hop 0).
        hop: see ``correlation``.
    """

    fault: str
    target: str = "*"
    at: Range = 0.0
    duration: Range | None = None
    probability: float = 1.0
    repeat: int = 1
    max: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    message: str | None = None
    correlation: str | None = None
    hop: int | None = None


@dataclass(frozen=True)
class PlannedFault:
    """A fault window in the plan. ``end`` None means until the run ends.

    ``message``, ``correlation`` and ``hop`` pin a per-message fault to one message (see
    :class:`FaultSpec`); unpinned faults match every message.
    """

    id: str
    fault: str
    target: str
    start: float
    end: float | None
    probability: float
    max: int | None
    params: dict[str, Any]
    message: str | None = None
    correlation: str | None = None
    hop: int | None = None

    def active(self, t: float) -> bool:
        return t >= self.start and (self.end is None or t < self.end)

    @property
    def pinned(self) -> bool:
        return self.message is not None or self.correlation is not None

    def matches(self, message_id: str | None, correlation_id: str | None, hop: int | None) -> bool:
        """Whether this fault may fire on that message (always, when it is not pinned)."""
        if self.message is not None and message_id != self.message:
            return False
        if self.correlation is not None and correlation_id != self.correlation:
            return False
        return self.hop is None or hop == self.hop

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "fault": self.fault,
            "target": self.target,
            "start": self.start,
            "end": self.end,
            "probability": self.probability,
            "max": self.max,
            "params": self.params,
        }
        for key in ("message", "correlation", "hop"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


def _draw(rng: random.Random, value: Range | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return round(rng.uniform(value[0], value[1]), 4)
    return float(value)


def plan(specs: list[FaultSpec], seed: int) -> list[PlannedFault]:
    """The seeded plan: one window per repeat of each spec, in file order."""
    rng = random.Random(f"schedule:{seed}")
    out: list[PlannedFault] = []
    for i, spec in enumerate(specs):
        for r in range(max(1, spec.repeat)):
            start = _draw(rng, spec.at) or 0.0
            if spec.repeat > 1 and not isinstance(spec.at, tuple) and r:
                start = start + r * (_draw(rng, spec.duration) or 0.0) * 2
            dur = _draw(rng, spec.duration)
            out.append(
                PlannedFault(
                    id=f"f{i}.{r}:{spec.fault}@{spec.target}",
                    fault=spec.fault,
                    target=spec.target,
                    start=round(start, 4),
                    end=None if dur is None else round(start + dur, 4),
                    probability=spec.probability,
                    max=spec.max,
                    params=dict(spec.params),
                    message=spec.message,
                    correlation=spec.correlation,
                    hop=spec.hop,
                )
            )
    return out


def fraction(seed: int, *parts: object) -> float:
    """A number in [0, 1) from the seed and parts (stable across runs and processes)."""
    text = "\x1f".join(map(str, (seed, *parts))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2**64


def message_key(
    ids: dict[str, Any], fallback: str, *, run_tag: str = "", hop: int | None = None
) -> str:
    """The identity a per-message fault decision is made on: the message id on memory (no run
    tag); on a real broker, where the workload's correlation ids carry a random run tag (and
    every message id derived from them changes with it), the correlation id without the tag,
    the message type and its hop, so the same seed makes the same decisions on every run."""
    if not run_tag:
        return fallback
    cid = str(ids.get("correlation_id") or fallback).replace(run_tag, "", 1)
    return f"{cid}|{ids.get('type')}|{hop}"


def decide(seed: int, probability: float, *parts: object) -> bool:
    """Whether a per-message fault fires for the message named by ``parts``."""
    if probability >= 1:
        return True
    if probability <= 0:
        return False
    return fraction(seed, *parts) < probability
