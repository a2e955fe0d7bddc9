"""The NATS adapter's own PubAck wait: a publish returns once JetStream stored it, and one
whose PubAck never comes fails with a clear error after the timeout (one sweeper, not a timer
per publish)."""

from __future__ import annotations

import uuid

import nats
import pytest

from harness.errors import TransportError
from harness.transport import nats as tnats
from harness.transport.nats import NatsTransport, subject_of
from tests.transport.conftest import url_for

pytestmark = pytest.mark.timeout(60)


async def test_a_publish_without_a_puback_fails_after_the_timeout(request, monkeypatch):
    url = url_for("nats", request)
    monkeypatch.setattr(tnats, "_PUBLISH_TIMEOUT", 0.3)
    monkeypatch.setattr(tnats, "_EXPIRY_SWEEP", 0.05)
    queue = f"t{uuid.uuid4().hex[:10]}.silent"
    # a plain subscriber on the subject: the server has a responder, so no 503, but no stream
    # stores the message and nothing ever sends a PubAck
    listener = await nats.connect(url.split("?", 1)[0])
    got = []

    async def keep(msg) -> None:  # type: ignore[no-untyped-def]
        got.append(msg.data)

    await listener.subscribe(subject_of(queue), cb=keep)
    await listener.flush()
    t = NatsTransport(url)
    await t.connect()
    try:
        with pytest.raises(TransportError, match=r"publish to .*silent.* failed: .*PubAck"):
            await t.publish(queue, b"never confirmed")
        assert got == [b"never confirmed"]  # it was sent; only the confirmation is missing
        assert not t._pubacks  # the waiter is gone
    finally:
        await t.close()
        await listener.close()
