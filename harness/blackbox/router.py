"""The harness owns the routing between black-box agents.

Each black-box agent publishes to an exchange of its own (a topic exchange; routing key = the
envelope's type). All of them are bound to one router queue that the harness consumes: for
every message it records who published it (the exchange names the agent, whatever the bytes
say) and forwards it to the input queues of the type's consumers through the run's transport,
which records the ``publish`` with its bytes and applies the message faults (duplicate, delay,
reorder, drop, poison, drift). A type nobody consumes is recorded and not forwarded.

A consumer queue no message fault targets (``direct``) is bound to the exchanges by the harness
instead, so the broker delivers to it without the extra hop; the router queue still gets a copy
of every message (the tap) and records its ``publish`` for that queue, bytes included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import DeliveredMessage

from harness.envelope import peek_identities
from harness.errors import ServiceUnavailable, TransportError
from harness.history import Recorder, b64

__all__ = ["PRODUCER_HEADER", "Router"]

log = logging.getLogger(__name__)
#: header the router puts on forwarded copies: the agent whose exchange the message came from
PRODUCER_HEADER = "x-harness-producer"
MAX_BODY = 65536

Forward = Callable[[str, bytes, dict[str, Any]], Awaitable[None]]


class Router:
    """Moves messages from the agents' exchanges to their consumers' queues.

    Args:
        url: the broker (the harness's own link, never through a fault proxy).
        exchanges: exchange name -> the agent publishing to it.
        route: message type -> consumer queue names (with the run's prefix).
        forward: publishes one copy to one queue (the run's transport).
        recorder: the history (publishes without consumers are recorded here).
        queue: the router queue's name.
        records_publish: False when ``forward`` does not record ``publish`` itself.
        owned: exchanges made for this run, deleted at close (not external agents' ones).
        direct: message type -> consumer queues the broker routes to itself (no fault there).
        outcomes: the pipeline's ``outcomes:`` (a published type that ends its correlation).
    """

    def __init__(self, url: str, *, exchanges: dict[str, str],
                 route: Callable[[str], list[str]], forward: Forward, recorder: Recorder,
                 queue: str, records_publish: bool = True, prefetch: int = 64,
                 owned: tuple[str, ...] = (), direct: dict[str, list[str]] | None = None,
                 outcomes: dict[str, Any] | None = None) -> None:
        self.url = url
        self.exchanges = exchanges
        self.route = route
        self.forward = forward
        self.recorder = recorder
        self.queue_name = queue
        self.records_publish = records_publish
        self.prefetch = prefetch
        self.owned = owned
        self.direct = {t: list(qs) for t, qs in (direct or {}).items() if qs}
        self.outcomes = dict(outcomes or {})
        #: correlation id -> the outcome a black box's message ended it with
        self.ended: dict[str, str] = {}
        self.routed = 0
        self.in_flight = 0
        self._conn: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._tag: str | None = None
        self._queue: Any = None

    async def start(self) -> None:
        """Declare the exchanges and the router queue, bind them, start consuming."""
        try:
            self._conn = await aio_pika.connect(self.url, timeout=10)
            self._channel = await self._conn.channel(publisher_confirms=False)
            await self._channel.set_qos(prefetch_count=self.prefetch)
            self._queue = await self._channel.declare_queue(
                self.queue_name, durable=False, exclusive=True, auto_delete=True)
            for name in self.exchanges:
                exchange = await self._channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True)
                await self._queue.bind(exchange, routing_key="#")
                for mtype, queues in self.direct.items():
                    for queue in queues:
                        target = await self._channel.get_queue(queue, ensure=False)
                        await target.bind(exchange, routing_key=mtype)
            # straight on aiormq (no aio-pika message object and second task per message)
            raw = await self._channel.get_underlay_channel()
            self._tag = (await raw.basic_consume(self.queue_name, self._on_message,
                                                 no_ack=False)).consumer_tag
        except (aio_pika.exceptions.AMQPException, ConnectionError, OSError) as exc:
            await self.close()
            raise ServiceUnavailable(f"router cannot set up on the broker: {exc!r}") from exc

    async def _on_message(self, message: DeliveredMessage) -> None:
        self.in_flight += 1
        try:
            await self._route(message)
        finally:
            self.in_flight -= 1

    async def _route(self, message: DeliveredMessage) -> None:
        body = bytes(message.body)
        agent = self.exchanges.get(message.exchange or "", message.exchange or "?")
        ids = peek_identities(body)
        mtype = message.routing_key or ids.get("type") or ""
        tag = int(message.delivery_tag or 0)
        headers = {k: v for k, v in (message.header.properties.headers or {}).items()
                   if not str(k).startswith("x-death")}
        headers.update({PRODUCER_HEADER: agent, "x-message-type": mtype})
        if ids.get("correlation_id"):
            headers.setdefault("x-correlation-id", ids["correlation_id"])
        queues = self.route(mtype)
        direct = set(self.direct.get(mtype, ())) if mtype in self.direct else set()
        forwarded = [q for q in queues if q not in direct]
        record = [q for q in queues if q in direct or not self.records_publish]
        for queue in record or ([] if queues else [message.exchange or "?"]):
            self.recorder.record(
                "publish", queue=queue, producer=agent,
                routed_by="broker" if queue in direct else "harness",
                unrouted=not queues or None, routing_key=mtype,
                body=b64(body) if len(body) <= MAX_BODY else None, body_len=len(body), **ids)
        for queue in forwarded:
            for attempt in range(6):  # a lost confirm (drop fault) is retried, as a producer would
                try:
                    await self.forward(queue, body, headers)
                    break
                except TransportError:
                    if attempt == 5:
                        log.warning("router gave up forwarding to %s", queue)
                        with contextlib.suppress(Exception):
                            await message.channel.basic_nack(tag, requeue=True)
                        return
                    await asyncio.sleep(0.01 * (attempt + 1))
        if mtype in self.outcomes:
            self._outcome(mtype, body, ids, agent)
        self.routed += 1
        with contextlib.suppress(Exception):
            await message.channel.basic_ack(tag)

    def _outcome(self, mtype: str, body: bytes, ids: dict[str, Any], agent: str) -> None:
        import json

        from harness.blackbox.settings import outcome_of

        cid = ids.get("correlation_id")
        if not cid or cid in self.ended:
            return
        try:
            payload = json.loads(body).get("payload")
        except (ValueError, AttributeError):
            return
        outcome = outcome_of(self.outcomes[mtype], payload)
        if outcome is None:
            return
        self.ended[cid] = outcome
        self.recorder.record("outcome", outcome=outcome, correlation_id=cid,
                             message_id=ids.get("message_id"), agent=agent, source="router")

    async def idle(self) -> bool:
        """True when the router queue is empty and nothing is being forwarded."""
        if self._channel is None or self._channel.is_closed:
            return True
        try:
            q = await self._channel.declare_queue(self.queue_name, passive=True)
        except Exception:
            return True
        return not (q.declaration_result.message_count or 0) and self.in_flight == 0

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed:
            with contextlib.suppress(Exception):
                if self._channel is not None and self._tag is not None:
                    raw = await self._channel.get_underlay_channel()
                    await raw.basic_cancel(self._tag)
            with contextlib.suppress(Exception):
                assert self._channel is not None
                for name in self.owned:
                    await self._channel.exchange_delete(name)
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None
