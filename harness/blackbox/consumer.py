"""A black-box consumer against its pacts: each interaction's example message, wrapped in an
envelope of the type and version the pact names, is sent into the running service's queue; the
interaction holds when the service accepted it: not dead-lettered, still running, and whatever
it published is an envelope that passes its schema.

    results = check_consumer(spec, "ledger", "contracts/pacts")
    assert all(r.ok for r in results), [r.problems for r in results]
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.blackbox.driver import BlackBoxDriver
from harness.contracts.pactfiles import load_pacts
from harness.envelope import Envelope, Producer
from harness.errors import InputError
from harness.pipeline import PipelineSpec

__all__ = ["ConsumerResult", "check_consumer"]


@dataclass
class ConsumerResult:
    """One pact interaction driven through a black-box consumer."""

    provider: str
    description: str
    outcome: str
    published: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _envelope(inter: dict[str, Any], provider: str, n: int) -> Envelope:
    md = inter.get("metadata") or {}
    contents = inter.get("contents") or {}
    payload = contents.get("content", contents) if isinstance(contents, dict) else contents
    if not md.get("type"):
        raise InputError("the interaction's metadata names no message type",
                         where=f"interaction {inter.get('description')!r}")
    return Envelope.ingress(type=str(md["type"]), schema_version=int(md.get("schema_version", 1)),
                            payload=payload, correlation_id=f"pact-{provider}-{n}",
                            producer=Producer(provider, "pact"))


async def _check(driver: BlackBoxDriver, pacts: list[Any]) -> list[ConsumerResult]:
    out = []
    n = 0
    async with driver:
        for pact in pacts:
            for inter in pact.interactions:
                n += 1
                env = _envelope(inter, pact.provider, n)
                result = await driver.send(env)
                res = ConsumerResult(pact.provider, str(inter.get("description", "")),
                                     result.outcome, [e.type for e in result.emitted])
                if result.dead_letters:
                    dl = result.dead_letters[0]
                    res.problems.append(f"dead-lettered: {dl.reason}: {dl.detail[:200]}")
                for event in result.events:
                    if event["kind"] in ("nack", "agent_crash"):
                        res.problems.append(str(event.get("error") or event.get("reason")))
                for emitted in result.emitted:
                    if not driver.registry.is_valid(emitted.type, emitted.schema_version,
                                                    emitted.payload):
                        res.problems.append(f"published {emitted.type}@"
                                            f"{emitted.schema_version} that fails its schema")
                if result.outcome == "timeout" and not res.problems:
                    res.problems.append(f"not settled within {driver.timeout:g}s (published "
                                        "nothing, not dead-lettered)")
                out.append(res)
    return out


def check_consumer(spec: PipelineSpec, consumer: str, pacts: str | Path, *,
                   broker: str | None = None, timeout: float = 10.0) -> list[ConsumerResult]:
    """Drive black-box ``consumer`` of ``spec`` with every pact that names it as consumer.

    Raises:
        InputError: no pact names the consumer, or it is not a black box of the pipeline.
    """
    found = [p for p in load_pacts(pacts) if p.consumer == consumer]
    if not found:
        raise InputError(f"no pact names consumer {consumer!r}", where=str(pacts))
    driver = BlackBoxDriver(spec, consumer, broker=broker, timeout=timeout)
    return asyncio.run(_check(driver, found))
