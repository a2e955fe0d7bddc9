"""The SQS transport (aiobotocore): a queue per queue, a redrive policy to its dead-letter queue.

Names: SQS allows ``[A-Za-z0-9_-]`` only, so ``h1a2b3c4.fraud`` is the SQS queue
``h1a2b3c4_fraud`` and its dead-letter queue ``h1a2b3c4_fraud_dlq`` (``.fifo`` appended with
``?fifo=1``). Headers travel as one message attribute ``harness-headers`` (JSON; SQS allows
only 10 attributes); a body that is not XML-safe text is sent base64 with ``harness-encoding``;
a body over 256 KiB goes to an S3 object (bucket ``?bucket=``, default ``harness-sqs-large``)
named by ``harness-body-ref`` -- the claim check of Amazon's SQS extended client.

Semantics (the shared part is pulling.py): ``delivery_count`` is ``ApproximateReceiveCount``;
an ack is ``DeleteMessage`` (sent in the background like AMQP's unconfirmed ``basic.ack``;
``close`` waits for them); a return is ``ChangeMessageVisibility 0``; a subscription reads
up to ``read_ahead`` (10) messages per receive and hands them out ``prefetch`` at a time, so
messages read ahead and given back on cancel count one receive more (like RabbitMQ's
prefetched messages on a closed channel); the heartbeat extends
the visibility timeout, so a dead consumer's message reappears ``visibility`` seconds later.
``declare(q, delivery_limit=N)`` sets ``RedrivePolicy`` with ``maxReceiveCount = N + 1``: SQS
itself moves a message whose consumer died on its last allowed delivery (at the next receive),
and such dead letters carry no harness reason, so they read back as ``delivery_limit``.
Returns, rejects and ``dead_letter`` are moved by the harness (SendMessage to the DLQ, then
DeleteMessage) with the reason attributes.

URL: ``sqs://[key:secret@]region[?endpoint=URL&visibility=5&fifo=1&bucket=NAME]``; the endpoint
defaults to ``AWS_ENDPOINT_URL_SQS`` (``harness --sqs-endpoint``); with an endpoint and no
credentials in the environment, moto's dummy ones are used.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import ServiceUnavailable, TransportError
from harness.transport.base import DeadLetter, Handler, Subscription, dlq_name
from harness.transport.pulling import (
    CID,
    DETAIL,
    REASON,
    SOURCE,
    PullDelivery,
    PullSubscription,
    PullTransport,
    number,
    query_of,
)

__all__ = ["SqsTransport", "sqs_name"]

log = logging.getLogger(__name__)

_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, OSError, TimeoutError)
_HEADERS, _ENCODING, _REF = "harness-headers", "harness-encoding", "harness-body-ref"
_MAX_BODY = 256 * 1024 - 8192  # leave room for the attributes
_SESSION: Any = None  # one botocore session: its loaded service models are reused
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_name(queue: str, *, fifo: bool = False) -> str:
    """The SQS queue name of ``queue`` (at most 80 characters with ``.fifo``)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", queue)
    room = 75 if fifo else 80
    if len(name) > room:
        name = name[: room - 9] + "_" + hashlib.sha1(queue.encode()).hexdigest()[:8]
    return name + (".fifo" if fifo else "")


def _text_body(body: bytes) -> tuple[str, bool]:
    """(message body, base64?) for raw bytes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True
    if _XML_BAD.search(text):
        return base64.b64encode(body).decode(), True
    return text, False


class _SqsDelivery(PullDelivery):
    sub: _SqsSubscription

    def __init__(self, sub: _SqsSubscription, message: dict[str, Any], body: bytes,
                 headers: dict[str, Any], ref: str | None) -> None:
        count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        super().__init__(sub, body, headers, count)
        self.handle = message["ReceiptHandle"]
        self.ref = ref

    async def _remove(self) -> None:
        """DeleteMessage in the background, like an AMQP ``basic.ack`` (no confirm): a lost
        delete is a redelivery after the visibility timeout, never a loss. ``close`` waits."""
        self.sub.transport._later(self._delete())

    async def _delete(self) -> None:
        t = self.sub.transport
        await t._client().delete_message(QueueUrl=await t._url(self.queue),
                                         ReceiptHandle=self.handle)
        await t._drop_large(self.ref)

    async def _release(self) -> None:
        t = self.sub.transport
        await t._client().change_message_visibility(
            QueueUrl=await t._url(self.queue), ReceiptHandle=self.handle, VisibilityTimeout=0)

    async def _touch(self) -> None:
        t = self.sub.transport
        await t._client().change_message_visibility(
            QueueUrl=await t._url(self.queue), ReceiptHandle=self.handle,
            VisibilityTimeout=t.visibility)

    async def _bury(self, headers: dict[str, Any]) -> None:
        t = self.sub.transport
        await t._send(dlq_name(self.queue), self.body, headers)
        await self._delete()


class _SqsSubscription(PullSubscription):
    def __init__(self, transport: SqsTransport, queue: str, handler: Handler, *,
                 prefetch: int, delivery_limit: int | None) -> None:
        super().__init__(queue, handler, prefetch=prefetch, delivery_limit=delivery_limit,
                         heartbeat=max(0.5, transport.visibility / 3))
        self.transport = transport
        self.idle = transport.poll
        self.buffer: deque[tuple[float, dict[str, Any]]] = deque()

    async def fetch(self, n: int) -> list[PullDelivery]:
        """Up to ``n`` from the read-ahead buffer, refilled by one receive of up to 10.

        Empty polls back off (0.05 s doubling to 0.5 s). Messages read ahead but not handed
        out within half the visibility timeout are dropped locally (SQS shows them again).
        """
        t = self.transport
        stale = time.monotonic() - t.visibility / 2
        while self.buffer and self.buffer[0][0] < stale:
            self.buffer.popleft()
        if not self.buffer:
            messages = await t._receive(self.queue, max(n, t.read_ahead))
            if not messages:
                await asyncio.sleep(self.idle)
                self.idle = min(0.5, self.idle * 2)
                return []
            self.idle = t.poll
            now = time.monotonic()
            self.buffer.extend((now, m) for m in messages)
        out: list[PullDelivery] = []
        while self.buffer and len(out) < n:
            _at, m = self.buffer.popleft()
            body, headers, ref = await t._decode(m)
            out.append(_SqsDelivery(self, m, body, headers, ref))
        return out

    async def stopped(self) -> None:
        """Show what was read ahead but never handed out again at once."""
        t = self.transport
        while self.buffer:
            _at, m = self.buffer.popleft()
            with contextlib.suppress(*_ERRORS):
                await t._client().change_message_visibility(
                    QueueUrl=await t._url(self.queue), ReceiptHandle=m["ReceiptHandle"],
                    VisibilityTimeout=0)


class SqsTransport(PullTransport):
    """SQS through aiobotocore (moto's server locally, AWS for real).

    Args:
        url: ``sqs://[key:secret@]region?endpoint=URL&visibility=5&fifo=1&bucket=NAME``.
        prefix: the run's queue-name prefix (queue names passed in already carry it).
    """

    name = "sqs"
    errors = _ERRORS

    def __init__(self, url: str, *, prefix: str = "") -> None:
        super().__init__()
        parts = urlsplit(url)
        query = query_of(url)
        self.url = url
        self.prefix = prefix
        self.region = parts.hostname or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.endpoint = (query.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_SQS")
                         or os.environ.get("AWS_ENDPOINT_URL") or None)
        self.key = unquote(parts.username) if parts.username else None
        self.secret = unquote(parts.password) if parts.password else None
        self.fifo = query.get("fifo", "0").lower() in ("1", "true", "yes")
        self.bucket = query.get("bucket", "harness-sqs-large")
        self.visibility = max(1, int(number(query, "visibility", 5, url)))
        self.poll = number(query, "poll", 0.05, url)
        self.read_ahead = max(1, min(10, int(number(query, "read_ahead", 10, url))))
        self._stack: contextlib.AsyncExitStack | None = None
        self._sqs: Any = None
        self._s3: Any = None
        self._urls: dict[str, str] = {}
        self._bucket_ready = False
        self._client_kw: dict[str, Any] = {}
        self._pending: set[asyncio.Future[Any]] = set()

    # -- connections ---------------------------------------------------------------------------
    def _credentials(self) -> dict[str, str]:
        if self.key:
            return {"aws_access_key_id": self.key, "aws_secret_access_key": self.secret or ""}
        if self.endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
            return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return {}

    async def connect(self) -> None:
        if self._sqs is not None:
            return
        config = AioConfig(connect_timeout=5, read_timeout=30,
                           retries={"max_attempts": 2, "mode": "standard"})
        global _SESSION
        if _SESSION is None:
            _SESSION = get_session()
        session = _SESSION
        stack = contextlib.AsyncExitStack()
        where = self.endpoint or f"AWS {self.region}"
        try:
            self._client_kw = dict(region_name=self.region, endpoint_url=self.endpoint,
                                   config=config, **self._credentials())
            self._sqs = await stack.enter_async_context(
                session.create_client("sqs", **self._client_kw))
            await self._sqs.list_queues(QueueNamePrefix="harness-probe", MaxResults=1)
        except ClientError as exc:
            await stack.aclose()
            self._sqs = self._s3 = None
            code = exc.response.get("Error", {}).get("Code", "")
            raise ServiceUnavailable(f"SQS at {where} refused the request ({code}: "
                                     "wrong credentials?)") from exc
        except (*_ERRORS, ValueError) as exc:
            await stack.aclose()
            self._sqs = self._s3 = None
            raise ServiceUnavailable(f"cannot connect to SQS at {where}: {exc}") from exc
        self._stack = stack

    def _later(self, op: Any) -> None:
        """Run ``op`` in the background (errors logged); ``close`` waits for all of them."""
        task = asyncio.ensure_future(op)
        self._pending.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._pending.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("sqs background delete failed: %r", t.exception())

        task.add_done_callback(done)

    def _client(self) -> Any:
        if self._sqs is None:
            raise TransportError("SqsTransport is not connected (use `async with` or connect())")
        return self._sqs

    def _name(self, queue: str) -> str:
        return sqs_name(queue, fifo=self.fifo)

    async def _url(self, queue: str) -> str:
        url = self._urls.get(queue)
        if url is None:
            reply = await self._client().get_queue_url(QueueName=self._name(queue))
            url = self._urls[queue] = reply["QueueUrl"]
        return url

    async def _send(self, queue: str, body: bytes, headers: dict[str, Any] | None) -> None:
        clean = {k: v for k, v in (headers or {}).items() if v is not None}
        attrs = {_HEADERS: {"DataType": "String",
                            "StringValue": json.dumps(clean, default=str)}}
        if len(body) > _MAX_BODY:
            ref = await self._put_large(body)
            attrs[_REF] = {"DataType": "String", "StringValue": ref}
            text, b64 = "(claim check: body in S3)", False
        elif not body:  # SQS refuses an empty MessageBody
            text, b64 = "(empty)", False
            attrs[_ENCODING] = {"DataType": "String", "StringValue": "empty"}
        else:
            text, b64 = _text_body(body)
        if b64:
            attrs[_ENCODING] = {"DataType": "String", "StringValue": "base64"}
        kw: dict[str, Any] = {"QueueUrl": await self._url(queue), "MessageBody": text,
                              "MessageAttributes": attrs}
        if self.fifo:
            kw["MessageGroupId"] = str(clean.get("x-message-group") or clean.get(CID)
                                       or "harness")
            digest = hashlib.sha256(queue.encode() + b"\0" + body + b"\0"
                                    + attrs[_HEADERS]["StringValue"].encode())
            kw["MessageDeduplicationId"] = str(clean.get("x-deduplication-id")
                                               or digest.hexdigest())
        await self._client().send_message(**kw)

    async def _s3_client(self) -> Any:
        """The S3 client for claim-checked bodies (opened on first use)."""
        if self._s3 is None:
            if self._stack is None:
                raise TransportError("SqsTransport is not connected")
            self._s3 = await self._stack.enter_async_context(
                _SESSION.create_client("s3", **self._client_kw))
        return self._s3

    async def _put_large(self, body: bytes) -> str:
        await self._s3_client()
        if not self._bucket_ready:
            with contextlib.suppress(ClientError):  # exists already
                await self._s3.create_bucket(Bucket=self.bucket)
            self._bucket_ready = True
        ref = f"{uuid.uuid4().hex}"
        await self._s3.put_object(Bucket=self.bucket, Key=ref, Body=body)
        return ref

    async def _drop_large(self, ref: str | None) -> None:
        if ref:
            with contextlib.suppress(*_ERRORS):
                await (await self._s3_client()).delete_object(Bucket=self.bucket, Key=ref)

    async def _decode(self, message: dict[str, Any]) -> tuple[bytes, dict[str, Any], str | None]:
        attrs = message.get("MessageAttributes") or {}
        try:
            headers = json.loads(attrs.get(_HEADERS, {}).get("StringValue") or "{}")
        except ValueError:
            headers = {}
        ref = attrs.get(_REF, {}).get("StringValue")
        if ref:
            s3 = await self._call("large body", self._s3_client())
            obj = await self._call("large body", s3.get_object(Bucket=self.bucket, Key=ref))
            async with obj["Body"] as stream:
                body = await stream.read()
        elif attrs.get(_ENCODING, {}).get("StringValue") == "base64":
            body = base64.b64decode(message.get("Body") or "")
        elif attrs.get(_ENCODING, {}).get("StringValue") == "empty":
            body = b""
        else:
            body = (message.get("Body") or "").encode("utf-8")
        return body, headers if isinstance(headers, dict) else {}, ref

    async def _receive(self, queue: str, n: int) -> list[dict[str, Any]]:
        reply = await self._client().receive_message(
            QueueUrl=await self._url(queue), MaxNumberOfMessages=max(1, min(10, n)),
            WaitTimeSeconds=0, MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"])
        return list(reply.get("Messages") or [])

    # -- the interface -------------------------------------------------------------------------
    async def declare(self, queue: str, *, delivery_limit: int | None = None) -> None:
        sqs = self._client()
        base = {"VisibilityTimeout": str(self.visibility)}
        if self.fifo:
            base["FifoQueue"] = "true"
        try:
            dlq = await sqs.create_queue(QueueName=self._name(dlq_name(queue)),
                                         Attributes=dict(base))
            self._urls[dlq_name(queue)] = dlq["QueueUrl"]
            attrs = dict(base)
            if delivery_limit is not None:
                arn = (await sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"],
                                                      AttributeNames=["QueueArn"])
                       )["Attributes"]["QueueArn"]
                attrs["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": str(delivery_limit + 1)})
            reply = await sqs.create_queue(QueueName=self._name(queue), Attributes=attrs)
            self._urls[queue] = reply["QueueUrl"]
        except _ERRORS as exc:
            raise TransportError(f"declare {queue!r} failed: {exc!r}") from exc

    async def _limit(self, queue: str) -> int | None:
        reply = await self._call(f"attributes of {queue!r}", self._client().get_queue_attributes(
            QueueUrl=await self._url(queue), AttributeNames=["RedrivePolicy"]))
        raw = reply.get("Attributes", {}).get("RedrivePolicy")
        return int(json.loads(raw)["maxReceiveCount"]) - 1 if raw else None

    async def publish(self, queue: str, body: bytes, *,
                      headers: dict[str, Any] | None = None) -> None:
        await self._call(f"publish to {queue!r}", self._send(queue, bytes(body), headers))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        sub = _SqsSubscription(self, queue, handler, prefetch=prefetch,
                               delivery_limit=await self._limit(queue))
        return self._running(sub)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        name = dlq_name(queue)
        out: list[DeadLetter] = []
        while True:
            messages = await self._call(f"reading {name!r}", self._receive(name, 10))
            if not messages:
                return out
            for m in messages:
                body, headers, ref = await self._decode(m)
                reason = headers.get(REASON)
                detail = headers.get(DETAIL) or ""
                if not reason:  # moved by the redrive policy: its consumer died at the limit
                    count = m.get("Attributes", {}).get("ApproximateReceiveCount", "?")
                    reason, detail = "delivery_limit", (
                        f"moved by the SQS redrive policy (maxReceiveCount) from {queue}; "
                        f"received {count} times in the dead-letter queue")
                out.append(DeadLetter(body, str(reason), str(detail),
                                      str(headers.get(SOURCE) or queue), headers.get(CID),
                                      headers))
                await self._call(f"draining {name!r}", self._client().delete_message(
                    QueueUrl=await self._url(name), ReceiptHandle=m["ReceiptHandle"]))
                await self._drop_large(ref)

    async def depth(self, queue: str) -> int:
        reply = await self._call(f"depth of {queue!r}", self._client().get_queue_attributes(
            QueueUrl=await self._url(queue), AttributeNames=["ApproximateNumberOfMessages"]))
        return int(reply.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))

    async def purge(self, queue: str) -> None:
        for name in (queue, dlq_name(queue)):
            await self._call(f"purge {name!r}",
                             self._client().purge_queue(QueueUrl=await self._url(name)))

    async def delete(self, queue: str) -> None:
        for name in (queue, dlq_name(queue)):
            try:
                await self._client().delete_queue(QueueUrl=await self._url(name))
            except ClientError as exc:
                if "NonExistentQueue" not in str(exc):
                    raise TransportError(f"delete {name!r} failed: {exc!r}") from exc
            except _ERRORS as exc:
                raise TransportError(f"delete {name!r} failed: {exc!r}") from exc
            self._urls.pop(name, None)

    async def close(self) -> None:
        await self._cancel_all()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        stack, self._stack = self._stack, None
        self._sqs = self._s3 = None
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

