"""The embedded in-memory transport: a real at-least-once broker inside the process.

Unsettled deliveries go back to the head of their queue when their consumer is cancelled,
``nack`` requeues with a higher delivery count, a delivery limit dead-letters, and every queue has
a dead-letter queue. Not a mock: the same conformance suite runs against it and RabbitMQ.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from harness.transport.base import DeadLetter, Delivery, Handler, Subscription, Transport, dlq_name

__all__ = ["MemoryBroker", "MemoryTransport"]


@dataclass
class _Msg:
    body: bytes
    headers: dict[str, Any]
    seq: int
    deliveries: int = 0


@dataclass
class _Queue:
    name: str
    delivery_limit: int | None = None
    ready: deque[_Msg] = field(default_factory=deque)
    dead: list[DeadLetter] = field(default_factory=list)
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)


class MemoryBroker:
    """The queues, shared by every :class:`MemoryTransport` attached to it."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self._seq = itertools.count()

    def queue(self, name: str) -> _Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _Queue(name)
        return q

    async def put(self, name: str, body: bytes, headers: dict[str, Any]) -> None:
        q = self.queue(name)
        async with q.cond:
            q.ready.append(_Msg(body, dict(headers), next(self._seq)))
            q.cond.notify()

    async def requeue(self, q: _Queue, msg: _Msg) -> None:
        if q.delivery_limit is not None and msg.deliveries > q.delivery_limit:
            await self.bury(q, msg, "delivery_limit",
                            f"delivered {msg.deliveries} times (limit {q.delivery_limit})")
            return
        async with q.cond:
            q.ready.appendleft(msg)
            q.cond.notify()

    async def bury(self, q: _Queue, msg: _Msg, reason: str, detail: str,
                   correlation_id: str | None = None) -> None:
        headers = dict(msg.headers)
        headers.update({"x-harness-reason": reason, "x-harness-detail": detail,
                        "x-harness-queue": q.name})
        cid = correlation_id or headers.get("x-correlation-id")
        dl = DeadLetter(msg.body, reason, detail, q.name, cid, headers)
        dq = self.queue(dlq_name(q.name))
        async with dq.cond:
            dq.dead.append(dl)
            dq.ready.append(_Msg(msg.body, headers, next(self._seq)))
            dq.cond.notify()


class _MemoryDelivery(Delivery):
    def __init__(self, sub: _MemorySubscription, msg: _Msg) -> None:
        self._sub = sub
        self._msg = msg
        self.body = msg.body
        self.headers = msg.headers
        self.queue = sub.queue.name
        self.delivery_count = msg.deliveries
        self.redelivered = msg.deliveries > 1

    async def ack(self) -> None:
        self._settle()
        self._sub.done(self)

    async def nack(self, *, requeue: bool = True) -> None:
        self._settle()
        self._sub.done(self)
        if requeue:
            await self._sub.broker.requeue(self._sub.queue, self._msg)
        else:
            await self._sub.broker.bury(self._sub.queue, self._msg, "rejected",
                                        "nacked without requeue")

    async def dead_letter(self, reason: str, detail: str = "",
                          *, correlation_id: str | None = None) -> None:
        self._settle()
        self._sub.done(self)
        await self._sub.broker.bury(self._sub.queue, self._msg, reason, detail, correlation_id)


class _MemorySubscription(Subscription):
    def __init__(self, broker: MemoryBroker, queue: _Queue, handler: Handler, prefetch: int):
        self.broker = broker
        self.queue = queue
        self.handler = handler
        self.slots = asyncio.Semaphore(max(1, prefetch))
        self.unsettled: dict[int, _MemoryDelivery] = {}
        # insertion-ordered (a dict, not a set of id-hashed tasks): cancelling them on a crash
        # happens in delivery order, the same on every run (harness.sim)
        self.tasks: dict[asyncio.Task[None], None] = {}
        self.cancelled = False
        self.loop_task = asyncio.create_task(self._loop(), name=f"consume:{queue.name}")

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.tasks.pop(task, None)

    def done(self, delivery: _MemoryDelivery) -> None:
        if self.unsettled.pop(id(delivery), None) is not None:
            self.slots.release()

    async def _loop(self) -> None:
        q = self.queue
        while not self.cancelled:
            await self.slots.acquire()
            async with q.cond:
                while not q.ready:
                    await q.cond.wait()
                msg = q.ready.popleft()
            msg.deliveries += 1
            delivery = _MemoryDelivery(self, msg)
            self.unsettled[id(delivery)] = delivery
            task = asyncio.create_task(self._run(delivery))
            self.tasks[task] = None
            task.add_done_callback(self._forget)

    async def _run(self, delivery: _MemoryDelivery) -> None:
        try:
            await self.handler(delivery)
        except asyncio.CancelledError:
            pass
        except Exception:
            if not delivery.settled:
                delivery._settled = True
                self.done(delivery)
                await self.broker.requeue(self.queue, delivery._msg)

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self.loop_task.cancel()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(self.loop_task, *tasks, return_exceptions=True)
        # whatever was not settled goes back, oldest first at the head
        pending = sorted(self.unsettled.values(), key=lambda d: d._msg.seq, reverse=True)
        for delivery in pending:
            delivery._settled = True
            self.done(delivery)
            await self.broker.requeue(self.queue, delivery._msg)


class MemoryTransport(Transport):
    """In-process transport over a :class:`MemoryBroker` (a new one unless given).

    Pass the same broker to several transports (or share one transport) to connect agents.
    """

    name = "memory"

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker or MemoryBroker()
        self._subs: list[_MemorySubscription] = []

    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        q = self.broker.queue(queue)
        if delivery_limit is not None:
            q.delivery_limit = delivery_limit
        self.broker.queue(dlq_name(queue))

    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        await self.broker.put(queue, bytes(body), headers or {})

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        sub = _MemorySubscription(self.broker, self.broker.queue(queue), handler, prefetch)
        self._subs.append(sub)
        return sub

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        dq = self.broker.queue(dlq_name(queue))
        async with dq.cond:
            out, dq.dead = dq.dead, []
            dq.ready.clear()
        return out

    async def depth(self, queue: str) -> int:
        return len(self.broker.queue(queue).ready)

    async def purge(self, queue: str) -> None:
        for name in (queue, dlq_name(queue)):
            q = self.broker.queue(name)
            q.ready.clear()
            q.dead.clear()

    async def delete(self, queue: str) -> None:
        for name in (queue, dlq_name(queue)):
            self.broker.queues.pop(name, None)

    async def close(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            await sub.cancel()
