"""The shared shape of the pull-based transports (Redis Streams, NATS JetStream, SQS).

None of those brokers pushes an unsettled message back when its consumer goes away the way
RabbitMQ does, so the harness keeps the semantics of ``base.py`` on the client:

- a subscription fetches at most ``prefetch`` - unsettled messages at a time and runs the handler
  for each in its own task;
- while a delivery is unsettled a heartbeat keeps it claimed (Redis: idle time reset, NATS:
  ``in_progress``, SQS: visibility extended), so a slow handler is not redelivered under it,
  while a crashed process stops the heartbeat and the broker redelivers after the idle time;
- a return (``nack``, a handler exception, a cancelled subscription or a closed transport) of a
  delivery that has already been delivered ``delivery_limit + 1`` times dead-letters it with
  reason ``delivery_limit``; otherwise the message is released for immediate redelivery;
- ``dead_letter`` writes the original bytes with the reason headers to the dead-letter queue
  (confirmed by the broker) and only then removes the message from its queue.

A subclass supplies the broker calls: :meth:`PullSubscription.fetch` and the four raw
operations of :class:`PullDelivery`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.errors import TransportError
from harness.redact import redact_url
from harness.transport.base import Delivery, Handler, Subscription, Transport

__all__ = ["PullDelivery", "PullSubscription", "PullTransport", "number",
           "query_of", "reason_headers"]

log = logging.getLogger(__name__)

REASON = "x-harness-reason"
DETAIL = "x-harness-detail"
SOURCE = "x-harness-queue"
CID = "x-correlation-id"


def reason_headers(headers: dict[str, Any], queue: str, reason: str, detail: str,
                   correlation_id: str | None) -> dict[str, Any]:
    """The headers of a dead letter: the original ones plus reason, detail, queue and cid."""
    out = {k: v for k, v in headers.items() if not k.startswith("x-harness-")}
    out.update({REASON: reason, DETAIL: detail[:4000], SOURCE: queue})
    cid = correlation_id or headers.get(CID)
    if cid:
        out[CID] = str(cid)
    return out


def query_of(url: str) -> dict[str, str]:
    """The options in a broker URL's query (the last value of each name)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def number(query: dict[str, str], name: str, default: float, url: str) -> float:
    """Option ``name`` of a broker URL as a number.

    Raises:
        TransportError: it is not a number (names the option and the URL, password hidden).
    """
    try:
        return float(query.get(name, default))
    except ValueError as exc:
        raise TransportError(f"bad query in broker URL {redact_url(url)}: {name}="
                             f"{query[name]!r} is not a number") from exc


class PullTransport(Transport):
    """What the pull adapters share: their running subscriptions (cancelled on close) and the
    broker client's errors mapped to :class:`TransportError` (``errors``)."""

    #: the client library's exceptions that mean "this call failed"
    errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self) -> None:
        self._subs: list[PullSubscription] = []

    async def _call(self, what: str, op: Any) -> Any:
        try:
            return await op
        except self.errors as exc:
            raise TransportError(f"{what} failed: {exc!r}") from exc

    def _running(self, sub: PullSubscription) -> PullSubscription:
        sub.start()
        self._subs.append(sub)
        return sub

    async def _cancel_all(self) -> None:
        for sub in list(self._subs):
            await sub.cancel()
        self._subs.clear()


class PullDelivery(Delivery):
    """A delivery whose settlement the harness implements with the broker's primitives."""

    def __init__(self, sub: PullSubscription, body: bytes, headers: dict[str, Any],
                 delivery_count: int) -> None:
        self.sub = sub
        self.body = body
        self.headers = headers
        self.queue = sub.queue
        self.delivery_count = delivery_count
        self.redelivered = delivery_count > 1

    # -- the broker's primitives ---------------------------------------------------------------
    @abc.abstractmethod
    async def _remove(self) -> None:
        """Acknowledge: the broker forgets the message."""

    @abc.abstractmethod
    async def _release(self) -> None:
        """Make it deliverable again at once (counts as a delivery attempt)."""

    @abc.abstractmethod
    async def _touch(self) -> None:
        """Keep it claimed a while longer (the heartbeat)."""

    @abc.abstractmethod
    async def _bury(self, headers: dict[str, Any]) -> None:
        """Publish the body with ``headers`` to the dead-letter queue, then remove it."""

    # -- the interface -------------------------------------------------------------------------
    def _done(self) -> None:
        self._settle()
        self.sub._forget(self)

    async def _guard(self, what: str, op: Any) -> None:
        try:
            await op
        except TransportError:
            raise
        except Exception as exc:  # the client libraries raise their own trees
            raise TransportError(f"{what} on {self.queue!r} failed: {exc!r}") from exc

    async def ack(self) -> None:
        self._done()
        await self._guard("ack", self._remove())

    async def nack(self, *, requeue: bool = True) -> None:
        self._done()
        if not requeue:
            await self._dead("reject", "rejected", "rejected by the consumer (nack, no requeue)")
        else:
            await self._return()

    async def dead_letter(self, reason: str, detail: str = "",
                          *, correlation_id: str | None = None) -> None:
        self._done()
        await self._dead("dead-letter", reason, detail, correlation_id)

    async def _dead(self, what: str, reason: str, detail: str,
                    correlation_id: str | None = None) -> None:
        headers = reason_headers(self.headers, self.queue, reason, detail, correlation_id)
        await self._guard(what.strip(), self._bury(headers))

    async def _return(self) -> None:
        """A return: redelivered, or dead-lettered once the delivery limit is used up."""
        limit = self.sub.delivery_limit
        if limit is not None and self.delivery_count > limit:
            await self._dead("dead-letter", "delivery_limit",
                             f"delivered {self.delivery_count} times "
                             f"(limit {limit}) from {self.queue}")
        else:
            await self._guard("nack", self._release())


class PullSubscription(Subscription):
    """A fetch loop with bounded unsettled deliveries, a heartbeat and release on cancel.

    Args:
        queue: the queue consumed.
        handler: called once per delivery.
        prefetch: most unsettled deliveries at a time.
        delivery_limit: the queue's limit (None: unlimited).
        heartbeat: seconds between touches of the unsettled deliveries.
    """

    def __init__(self, queue: str, handler: Handler, *, prefetch: int,
                 delivery_limit: int | None, heartbeat: float) -> None:
        self.queue = queue
        self.handler = handler
        self.prefetch = max(1, prefetch)
        self.delivery_limit = delivery_limit
        self.heartbeat = heartbeat
        self.unsettled: list[PullDelivery] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled = False
        self._room = asyncio.Event()
        self._room.set()
        self._loop_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    @abc.abstractmethod
    async def fetch(self, n: int) -> list[PullDelivery]:
        """Up to ``n`` deliveries; may wait a short while (well under a second) for them."""

    async def stopped(self) -> None:
        """Hook: release broker-side resources after the loop ended (optional)."""

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name=f"consume {self.queue}")
        self._beat_task = asyncio.create_task(self._beat(), name=f"heartbeat {self.queue}")

    def _forget(self, delivery: PullDelivery) -> None:
        with contextlib.suppress(ValueError):
            self.unsettled.remove(delivery)
        self._room.set()

    async def _loop(self) -> None:
        backoff = 0.05
        while not self.cancelled:
            free = self.prefetch - len(self.unsettled)
            if free <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            if free * 2 < self.prefetch:
                # a batch settles together: let the rest of it settle (2 ms at most) and fetch
                # once for all of them instead of once per settled delivery
                await asyncio.sleep(0.002)
                free = self.prefetch - len(self.unsettled)
            try:
                batch = await self.fetch(free)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down or restarting: keep trying, log once a while
                self.error = exc
                log.warning("consume %s: %r (retrying)", self.queue, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for delivery in batch:
                if self.cancelled:
                    await self._give_back(delivery)
                    continue
                self.unsettled.append(delivery)
                task = asyncio.create_task(self._run(delivery))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _run(self, delivery: PullDelivery) -> None:
        try:
            await self.handler(delivery)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.debug("handler on %s raised %r: returning the delivery", self.queue, exc)
            if not delivery.settled and not self.cancelled:
                delivery._done()
                with contextlib.suppress(TransportError):
                    await delivery._return()

    async def _beat(self) -> None:
        while not self.cancelled:
            await asyncio.sleep(self.heartbeat)
            for delivery in list(self.unsettled):
                if not delivery.settled:
                    with contextlib.suppress(Exception):
                        await delivery._touch()

    async def _give_back(self, delivery: PullDelivery) -> None:
        if delivery.settled:
            return
        delivery._done()
        with contextlib.suppress(Exception):
            await delivery._return()

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self._room.set()
        current = asyncio.current_task()
        for task in (self._loop_task, self._beat_task):
            if task is not None and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        handlers = [t for t in self.tasks if t is not current]
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)
        # what was neither acked nor dead-lettered goes back (or to the DLQ at its limit)
        for delivery in list(self.unsettled):
            await self._give_back(delivery)
        with contextlib.suppress(Exception):
            await self.stopped()
