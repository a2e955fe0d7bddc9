"""Toxiproxy's toxics: one class per type over a shared base, with Toxiproxy 2.12's semantics.

Every toxic has integer attributes (all present, default 0) and an async ``pipe(stub)`` that moves
chunks from ``stub.get()`` to ``stub.put()``. When interrupted (a live update or removal) a toxic
hands on what it holds and returns. Where the Go server panics (bandwidth rate < 0, slicer
average_size 0 or size_variation >= average_size) these classes guard instead; see
docs/toxiproxy.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.chaos.toxiproxy.stream import EOF, Chunk, Stub, now

__all__ = [
    "TOXIC_TYPES",
    "BandwidthToxic",
    "LatencyToxic",
    "LimitDataToxic",
    "NoopToxic",
    "ResetPeerToxic",
    "SlicerToxic",
    "SlowCloseToxic",
    "TimeoutToxic",
    "Toxic",
    "ToxicSpec",
]


class Toxic:
    """Base: the attribute names and the pass-through pipe.

    Attributes:
        ATTRS: attribute names, in Toxiproxy's JSON order; each is an int64 defaulting to 0.
        BUFFER: input queue size (latency buffers 1024 chunks so that it pipelines).
    """

    ATTRS: ClassVar[tuple[str, ...]] = ()
    BUFFER: ClassVar[int] = 1
    GO_NAME: ClassVar[str] = "NoopToxic"

    def __init__(self, attributes: dict[str, int] | None = None) -> None:
        self.attributes = {name: 0 for name in self.ATTRS}
        if attributes:
            self.attributes.update(attributes)

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["attributes"][name]
        except KeyError:
            raise AttributeError(name) from None

    async def pipe(self, stub: Stub) -> None:
        """Pass every chunk on unchanged; close on EOF."""
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                stub.close()
                return
            if not await stub.put(chunk):
                return

    def on_remove(self, stub: Stub) -> None:
        """Called when the toxic is removed from a live link (timeout closes the link)."""


class NoopToxic(Toxic):
    """``noop``: passes data through (also used when a toxicity draw fails)."""


class LatencyToxic(Toxic):
    """``latency``: each chunk leaves ``latency +- jitter`` ms after its read; never reordered."""

    GO_NAME = "LatencyToxic"
    ATTRS = ("latency", "jitter")
    BUFFER = 1024

    def delay(self) -> float:
        """One draw of the delay, in seconds."""
        delay = self.latency
        if self.jitter > 0:
            delay += random.randrange(self.jitter * 2) - self.jitter
        return delay / 1000.0

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                stub.close()
                return
            delay = self.delay()
            if not await stub.sleep(chunk.ts + delay - now()):
                stub.flush(chunk)
                return
            chunk.ts += max(delay, 0.0)
            if not await stub.put(chunk):
                return


class BandwidthToxic(Toxic):
    """``bandwidth``: ``rate`` KB/s (1 KB = 1000 bytes); rate <= 0 stalls (Go panics below 0)."""

    GO_NAME = "BandwidthToxic"
    ATTRS = ("rate",)

    async def pipe(self, stub: Stub) -> None:
        owed = 0.0
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                stub.close()
                return
            rate = self.rate
            if rate <= 0:
                await stub.sleep(None)
                stub.flush(chunk)
                return
            owed += len(chunk.data) / (rate * 1000.0)
            piece = rate * 100
            data = chunk.data
            while len(data) > piece:
                if not await stub.sleep(0.1):
                    stub.flush(Chunk(data, chunk.ts))
                    return
                sent = await stub.put(Chunk(data[:piece], chunk.ts))
                data = data[piece:]
                if not sent:
                    stub.flush(Chunk(data, chunk.ts))
                    return
                owed -= 0.1
            start = now()
            if not await stub.sleep(owed):
                stub.flush(Chunk(data, chunk.ts))
                return
            owed -= now() - start
            if not await stub.put(Chunk(data, chunk.ts)):
                return


class SlowCloseToxic(Toxic):
    """``slow_close``: data passes; the close waits ``delay`` ms."""

    GO_NAME = "SlowCloseToxic"
    ATTRS = ("delay",)

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                if await stub.sleep(self.delay / 1000.0):
                    stub.close()
                else:
                    stub.unget(EOF)
                return
            if not await stub.put(chunk):
                return


class TimeoutToxic(Toxic):
    """``timeout``: drops data; closes after ``timeout`` ms without input (0: never)."""

    GO_NAME = "TimeoutToxic"
    ATTRS = ("timeout",)

    async def pipe(self, stub: Stub) -> None:
        seconds = self.timeout / 1000.0
        while True:
            try:
                chunk = await (stub.get_within(seconds) if seconds > 0 else stub.get())
            except TimeoutError:
                stub.close()
                return
            if chunk is EOF:
                stub.close()
                return

    def on_remove(self, stub: Stub) -> None:
        stub.close()


class ResetPeerToxic(Toxic):
    """``reset_peer``: on the first chunk or EOF, wait ``timeout`` ms, then RST both sides."""

    GO_NAME = "ResetToxic"
    ATTRS = ("timeout",)

    async def pipe(self, stub: Stub) -> None:
        chunk = await stub.get()
        if not await stub.sleep(self.timeout / 1000.0):
            if chunk is EOF:
                stub.unget(EOF)
            return
        stub.closed = True
        stub.inq.drop_all()
        stub.link.reset()


class SlicerToxic(Toxic):
    """``slicer``: split chunks into ``average_size`` +- ``size_variation`` bytes, ``delay`` us."""

    GO_NAME = "SlicerToxic"
    ATTRS = ("average_size", "size_variation", "delay")

    def cuts(self, length: int) -> list[tuple[int, int]]:
        """Piece boundaries for a chunk of ``length`` bytes (guards Go's panics)."""
        average = max(1, self.average_size)
        variation = min(max(0, self.size_variation), average - 1)
        out: list[tuple[int, int]] = []
        stack = [(0, length)]
        while stack:
            start, end = stack.pop()
            if (end - start) - average <= variation or end - start < 2:
                out.append((start, end))
                continue
            mid = start + (end - start) // 2
            if variation > 0:
                mid += random.randrange(variation * 2) - variation
            mid = min(max(mid, start + 1), end - 1)
            stack.append((mid, end))
            stack.append((start, mid))
        return out

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                stub.close()
                return
            data = chunk.data
            for start, end in self.cuts(len(data)):
                if not await stub.put(Chunk(data[start:end], chunk.ts)):
                    stub.flush(Chunk(data[end:], chunk.ts))
                    return
                if not await stub.sleep(self.delay / 1_000_000.0):
                    stub.flush(Chunk(data[end:], chunk.ts))
                    return


class LimitDataToxic(Toxic):
    """``limit_data``: forward ``bytes`` bytes per connection (kept across updates), then close."""

    GO_NAME = "LimitDataToxic"
    ATTRS = ("bytes",)

    async def pipe(self, stub: Stub) -> None:
        state = stub.state
        state.setdefault("sent", 0)
        while True:
            chunk = await stub.get()
            if chunk is EOF:
                stub.close()
                return
            remaining = max(0, self.bytes - state["sent"])
            data = chunk.data[:remaining] if remaining < len(chunk.data) else chunk.data
            if data:
                state["sent"] += len(data)
                if not await stub.put(Chunk(data, chunk.ts)):
                    if self.bytes - state["sent"] <= 0:
                        stub.close()
                    return
            if self.bytes - state["sent"] <= 0:
                stub.close()
                return


#: Toxic type name -> class, as registered by Toxiproxy.
TOXIC_TYPES: dict[str, type[Toxic]] = {
    "noop": NoopToxic,
    "latency": LatencyToxic,
    "bandwidth": BandwidthToxic,
    "slow_close": SlowCloseToxic,
    "timeout": TimeoutToxic,
    "reset_peer": ResetPeerToxic,
    "slicer": SlicerToxic,
    "limit_data": LimitDataToxic,
}


@dataclass
class ToxicSpec:
    """A toxic as the API knows it (Toxiproxy's ToxicWrapper).

    Attributes:
        name: unique across both streams of a proxy.
        type: a key of :data:`TOXIC_TYPES`.
        stream: as sent (case kept); ``direction`` is its lower-cased form.
        toxicity: probability that the toxic applies to a connection-direction.
        toxic: the toxic with its attributes.
    """

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic
    generation: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        """``upstream`` or ``downstream``."""
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's JSON shape: attributes, name, type, stream, toxicity."""
        tox = self.toxicity
        return {
            "attributes": dict(self.toxic.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": int(tox) if float(tox).is_integer() else tox,
        }
