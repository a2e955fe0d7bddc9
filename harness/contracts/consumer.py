"""Consumer side of message pacts: a consumer agent declares what it reads and proves it.

Example (a test in ``suites/contracts/``)::

    def test_authorization_declines_high_risk(message_pact):
        pact = message_pact(authorization, provider="fraud")
        pact.expect(
            "a high-risk assessment",
            message="payment.risk_assessed@1",
            state="a high-risk payment was accepted",
            body={"payment_id": match.regex("pay-1", regex=PAYMENT_ID), "risk_level": "high", ...},
        )
        [result] = pact.verify()          # runs authorization's real handler on each message
        assert result.emitted[0].type == "payment.declined"

For each expected message, :meth:`ConsumerPact.verify`:

1. checks the consumer declares that it consumes ``type@version``;
2. validates the example payload (matchers filled in by Pact) against that schema version in the
   registry, so the pact and the schema cannot disagree silently;
3. wraps the payload in a real :class:`~harness.envelope.Envelope` whose producer is the provider
   and runs it through the consumer's runtime with :class:`~harness.agents.probe.AgentProbe`,
   requiring that it is acked (not dead-lettered, not failed).

One :class:`ConsumerPact` (one pact-python ``Pact``) per test: ``Pact.verify`` replays every
interaction of its Pact object (gotcha 1), so tests never share one; the pytest fixture merges
them at the end of the run (see :mod:`harness.contracts.pact_fixtures`).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.agents.probe import AgentProbe, ProbeResult
from harness.agents.sdk import Agent, MessageRef, parse_ref
from harness.contracts.registry import SchemaRegistry
from harness.envelope import Envelope, Producer
from harness.errors import ValidationFailed

__all__ = ["ConsumerContractError", "ConsumerPact", "Expectation", "run_sync"]

T = TypeVar("T")


class ConsumerContractError(AssertionError):
    """A consumer's pact is inconsistent with its schema, or its handler rejects the message."""


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a fresh event loop, even when one is already running
    in this thread (then it runs on a helper thread)."""
    if not _loop_running():
        return asyncio.run(coro)  # outside any except block: its errors carry no stale context
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="harness-run-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class Expectation:
    """One message the consumer expects.

    Attributes:
        description: the interaction's description (unique within the pact).
        ref: the message type and schema version the consumer reads.
        state: the provider state that makes the provider emit it.
        params: the provider state's parameters.
        check: optional assertion on the consumer's :class:`ProbeResult`.
    """

    description: str
    ref: MessageRef
    state: str | None
    params: dict[str, Any] | None
    check: Callable[[ProbeResult], None] | None = None


@dataclass
class ConsumerPact:
    """The messages one consumer agent expects from one provider, in one test.

    Args:
        consumer: the consumer agent (its real handler runs on each message).
        provider: the producing agent's name.
        registry: the schema registry the examples are validated against.
        params: the consumer's ``ctx.params``.
        on_written: called with the pact document after a successful :meth:`verify`.
    """

    consumer: Agent
    provider: str
    registry: SchemaRegistry
    params: dict[str, Any] | None = None
    on_written: Callable[[dict[str, Any]], None] | None = None
    expectations: list[Expectation] = field(default_factory=list)

    def __post_init__(self) -> None:
        from pact import Pact

        self.pact = Pact(self.consumer.name, self.provider).with_specification("V4")

    def expect(self, description: str, *, message: str | MessageRef, body: Any,
               state: str | None = None, params: dict[str, Any] | None = None,
               check: Callable[[ProbeResult], None] | None = None) -> ConsumerPact:
        """Declare a message the consumer reads.

        Args:
            description: what the message is (unique per pact).
            message: ``type@version`` the consumer reads (must be in its ``consumes``).
            body: the payload, with pact-python matchers (``pact.match``) for what may vary.
            state: the provider state (``"a high-risk payment was accepted"``).
            params: parameters of the provider state.
            check: assertion on what the consumer did with it (emitted, effects).
        """
        ref = parse_ref(message, where=f"pact {self.consumer.name}-{self.provider}: {description}")
        if any(e.description == description for e in self.expectations):
            raise ConsumerContractError(f"{self.consumer.name}: {description!r} is declared twice")
        inter = self.pact.upon_receiving(description, "Async")
        if state and params:
            inter.given(state, params)
        elif state:
            inter.given(state)
        inter.with_body(body, content_type="application/json")
        inter.with_metadata({"type": ref.type, "schema_version": str(ref.version),
                             "producer": self.provider})
        self.expectations.append(Expectation(description, ref, state, params, check))
        return self

    def verify(self) -> list[ProbeResult]:
        """Validate each example against the registry, run the consumer's real handler on it,
        and hand the pact to ``on_written``.

        Returns:
            one :class:`ProbeResult` per expectation, in declaration order.

        Raises:
            ConsumerContractError: naming the consumer, provider, description and schema.
        """
        if not self.expectations:
            raise ConsumerContractError(f"{self.consumer.name}: no messages expected")
        examples: list[tuple[Any, dict[str, Any]]] = []
        self.pact.verify(lambda body, metadata: examples.append((str(body), metadata)), "Async")
        payloads = [self._checked_payload(exp, text)
                    for exp, (text, _metadata) in zip(self.expectations, examples, strict=True)]
        results = run_sync(self._run_all(payloads))
        if self.on_written is not None:
            self.on_written(self.document())
        return results

    def document(self) -> dict[str, Any]:
        """The pact as a JSON document (what ``write_file`` writes)."""
        with tempfile.TemporaryDirectory(prefix="harness-pact-") as tmp:
            self.pact.write_file(tmp, overwrite=True)
            path = Path(tmp) / f"{self.consumer.name}-{self.provider}.json"
            return json.loads(path.read_text(encoding="utf-8"))

    def _who(self, exp: Expectation) -> str:
        return (f"consumer {self.consumer.name}, pact with {self.provider}, "
                f"message {exp.description!r}")

    def _checked_payload(self, exp: Expectation, text: str) -> Any:
        """The example payload, after checking the consumer reads it and it fits the schema
        (done before any event loop starts, so the error is the only one reported)."""
        ref = exp.ref
        if ref.version not in self.consumer.consumed_versions(ref.type):
            consumes = ", ".join(map(str, self.consumer.consumes))
            raise ConsumerContractError(f"{self._who(exp)}: {self.consumer.name} does not "
                                        f"consume {ref} (consumes: {consumes})")
        payload = json.loads(text)
        try:
            self.registry.validate(ref.type, ref.version, payload)
        except ValidationFailed as exc:
            schema = self.registry.get(ref.type, ref.version).path if exc.reason == (
                "schema_invalid") else self.registry.root
            raise ConsumerContractError(
                f"{self._who(exp)}: the example does not match registry schema {ref} "
                f"({schema}): {exc.detail}") from None
        return payload

    async def _run_all(self, payloads: list[Any]) -> list[ProbeResult]:
        results = []
        async with AgentProbe(self.consumer, self.registry, params=self.params) as probe:
            for index, (exp, payload) in enumerate(zip(self.expectations, payloads,
                                                       strict=True)):
                results.append(await self._run_one(probe, index, exp, payload))
        return results

    async def _run_one(self, probe: AgentProbe, index: int, exp: Expectation,
                       payload: Any) -> ProbeResult:
        who = self._who(exp)
        ref = exp.ref
        envelope = Envelope.ingress(
            type=ref.type, schema_version=ref.version, payload=payload,
            correlation_id=f"pact-{self.consumer.name}-{index}",
            producer=Producer(self.provider, "pact"),
            identity=f"pact:{self.consumer.name}:{self.provider}:{exp.description}")
        result = await probe.send(envelope)
        if result.outcome != "acked":
            reasons = "; ".join(f"{d.reason}: {d.detail}" for d in result.dead_letters)
            raise ConsumerContractError(f"{who}: the consumer did not ack it (outcome "
                                        f"{result.outcome}{': ' + reasons if reasons else ''})")
        if exp.check is not None:
            exp.check(result)
        return result
