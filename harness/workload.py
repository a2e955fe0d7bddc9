"""Workloads: the inputs a run feeds in, generated from a seed.

A pipeline owns its workload: ``workload: FILE.py:function`` in the pipeline file names a
generator with :data:`GENERATOR_SIGNATURE`; without one, :func:`make_workload` draws valid inputs
for the ingress type from the registry schema (:mod:`harness.workload_schema`) plus the mix's
invalid share. Experiments may name another generator (``workload.generator``).

``envelope_workload`` makes one for any pipeline from a payload function (rides and media use
it). ``payments_workload`` makes payment requests: mostly valid, some high-risk (the fraud agent
flags them, authorization declines them) and some invalid in each of the ways an upstream agent
can go wrong: malformed bytes, a wrong schema version, a missing field, a huge payload.
"""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.envelope import Envelope, Producer
from harness.errors import PipelineError

if TYPE_CHECKING:
    from harness.pipeline import PipelineSpec

__all__ = ["DEFAULT_MIX", "GENERATOR_SIGNATURE", "INVALID_KINDS", "WorkItem",
           "envelope_workload", "load_generator", "make_workload", "payments_generator",
           "payments_workload", "pick_kinds", "work_item"]

PayloadFn = Callable[[random.Random, int, str], dict[str, Any]]

INVALID_KINDS = ("malformed_bytes", "wrong_version", "missing_field", "huge_payload")
#: what a workload generator must look like
GENERATOR_SIGNATURE = ("def generator(n: int, seed: int, *, mix: dict[str, float], "
                       "run_tag: str) -> list[WorkItem]")
#: the mix when neither the command nor the experiment gives one
DEFAULT_MIX = {"valid": 0.85, "invalid": 0.05, "high_risk": 0.1}


@dataclass(frozen=True)
class WorkItem:
    """One input: an envelope or raw bytes, with what the run should make of it.

    Attributes:
        correlation_id: the input's correlation id.
        envelope: the envelope, for inputs that parse.
        body: the raw bytes sent.
        valid: whether the input satisfies its contract.
        expect: ``completed``, ``declined`` or ``dead_lettered``.
        kind: ``valid``, ``high_risk`` or one of INVALID_KINDS.
    """

    correlation_id: str
    envelope: Envelope | None
    body: bytes
    valid: bool
    expect: str
    kind: str


class Lazy(Sequence[WorkItem]):
    """A workload made as it is fed (one input in memory at a time, so a soak of any length
    holds none of its inputs); iterating again makes the same inputs again from the seed.
    Indexing it makes the whole list once (small workloads only)."""

    def __init__(self, n: int, make: Callable[[], Iterator[WorkItem]]) -> None:
        self.n, self._make = n, make
        self._list: list[WorkItem] | None = None

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[WorkItem]:
        return iter(self._list) if self._list is not None else self._make()

    def __getitem__(self, i: Any) -> Any:
        if self._list is None:
            self._list = list(self._make())
        return self._list[i]


def _payment(rng: random.Random, i: int, *, high_risk: bool) -> dict:
    amount = rng.randint(600_000, 5_000_000) if high_risk else rng.randint(100, 240_000)
    payload = {
        "payment_id": f"pay-{i:06d}",
        "amount_cents": amount,
        "currency": rng.choice(["EUR", "USD", "GBP"]),
        "customer_id": f"cust-{rng.randint(1, 500):04d}",
        "merchant_id": f"merch-{rng.randint(1, 50):03d}",
        "card_last4": f"{rng.randint(0, 9999):04d}",
    }
    if rng.random() < 0.3:
        payload["memo"] = rng.choice(["rent", "dinner with friends", "invoice 2291", "thanks!"])
    return payload


def pick_kinds(rng: random.Random, n: int, *, invalid_kinds: tuple[str, ...], invalid: float,
               high_risk: float) -> Iterator[tuple[int, str]]:
    """Yield (index, kind) for ``n`` inputs: one of each invalid kind forced at random places
    when n >= 20 (so every kind shows up), else drawn by the mix. Lazy, so the caller's own
    draws for input i happen between this one's draws for i and i + 1."""
    forced = list(invalid_kinds) if n >= 20 and invalid > 0 else []
    forced_at = set(rng.sample(range(n), len(forced))) if forced else set()
    for i in range(n):
        roll = rng.random()
        if i in forced_at:
            yield i, forced.pop()
        elif roll < invalid:
            yield i, rng.choice(invalid_kinds)
        elif roll < invalid + high_risk:
            yield i, "high_risk"
        else:
            yield i, "valid"


def work_item(cid: str, env: Envelope, body: bytes, kind: str) -> WorkItem:
    """The WorkItem for an input of ``kind`` (valid and high_risk keep their envelope)."""
    valid = kind in ("valid", "high_risk")
    expect = {"valid": "completed", "high_risk": "declined"}.get(kind, "dead_lettered")
    return WorkItem(cid, env if valid else None, body, valid, expect, kind)


def envelope_workload(n: int, seed: int, *, mix: Mapping[str, float], run_tag: str,
                      ingress_type: str, prefix: str, payload: PayloadFn,
                      required: tuple[str, ...], version: int = 1) -> list[WorkItem]:
    """A seeded workload for any pipeline (rides and media use it): ``payload(rng, i, kind)``
    builds a valid or high_risk payload; invalid inputs are malformed bytes or a missing
    required field."""
    rng = random.Random(f"{prefix}:{seed}")
    producer = Producer("workload", "1")
    items: list[WorkItem] = []
    for i, kind in pick_kinds(rng, n, invalid_kinds=("malformed_bytes", "missing_field"),
                              invalid=float(mix.get("invalid", 0.0)),
                              high_risk=float(mix.get("high_risk", 0.0))):
        cid = f"{prefix}-{run_tag}{seed}-{i:06d}"
        body_payload = payload(rng, i, "high_risk" if kind == "high_risk" else "valid")
        if kind == "missing_field":
            del body_payload[rng.choice(list(required))]
        env = Envelope.ingress(type=ingress_type, schema_version=version, payload=body_payload,
                               correlation_id=cid, producer=producer, identity=cid)
        body = env.to_bytes()
        if kind == "malformed_bytes":
            cut = rng.randint(10, len(body) - 10)
            body = body[:cut] + b"\xff{"
        items.append(work_item(cid, env, body, kind))
    return items


def payments_workload(n: int, seed: int, *, invalid_rate: float = 0.05,
                      high_risk_rate: float = 0.1, run_tag: str = "") -> Sequence[WorkItem]:
    """``n`` payment requests from ``seed`` (the same seed gives the same inputs).

    Args:
        n: how many inputs.
        seed: the seed.
        invalid_rate: share of invalid inputs (at least one of each kind when n >= 20).
        high_risk_rate: share of high-risk (declined) inputs.
        run_tag: added to correlation ids so runs on a shared broker never collide.
    """
    return Lazy(n, lambda: _payments(n, seed, invalid_rate, high_risk_rate, run_tag))


def _payments(n: int, seed: int, invalid_rate: float, high_risk_rate: float,
              run_tag: str) -> Iterator[WorkItem]:
    rng = random.Random(seed)
    producer = Producer("workload", "1")
    for i, kind in pick_kinds(rng, n, invalid_kinds=INVALID_KINDS, invalid=invalid_rate,
                              high_risk=high_risk_rate):
        cid = f"pay-{run_tag}{seed}-{i:06d}"
        payload = _payment(rng, i, high_risk=kind == "high_risk")
        version = 1
        if kind == "missing_field":
            del payload[rng.choice(["amount_cents", "currency", "payment_id"])]
        elif kind == "huge_payload":
            payload["memo"] = "x" * rng.randint(1_100_000, 1_300_000)
        elif kind == "wrong_version":
            version = rng.choice([2, 7])
        env = Envelope.ingress(type="payment.requested", schema_version=version, payload=payload,
                               correlation_id=cid, producer=producer, identity=cid)
        if kind == "malformed_bytes":
            body = env.to_bytes()
            cut = rng.randint(10, len(body) - 10)
            body = body[:cut] + rng.choice([b"\xff\xfe", b"{{", b"\x00", b""])
            yield WorkItem(cid, None, body, False, "dead_lettered", kind)
            continue
        body = env.to_bytes() if kind != "huge_payload" else json.dumps(
            env.to_dict(), separators=(",", ":")).encode()
        yield work_item(cid, env, body, kind)


def payments_generator(n: int, seed: int, *, mix: Mapping[str, float],
                       run_tag: str = "") -> Sequence[WorkItem]:
    """:func:`payments_workload` with the generator signature (the payments pipeline's)."""
    return payments_workload(n, seed, invalid_rate=float(mix.get("invalid", 0.0)),
                             high_risk_rate=float(mix.get("high_risk", 0.0)), run_tag=run_tag)


Generator = Callable[..., list[WorkItem]]


def load_generator(ref: str, *, base: Path, where: str) -> Generator:
    """Import a generator ``FILE.py:function`` (relative to ``base``) or ``module:function``
    and check it can be called as :data:`GENERATOR_SIGNATURE` (else one-line PipelineError)."""
    from harness.pipeline import load_object

    fn = load_object(ref, base=base, where=where)
    try:
        inspect.signature(fn).bind(1, 0, mix={}, run_tag="")
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"workload generator {ref} has the wrong signature ({exc}); "
                            f"expected {GENERATOR_SIGNATURE}", where=where) from None
    return fn


def make_workload(spec: PipelineSpec, n: int, seed: int, *,
                  mix: Mapping[str, float] | None = None, run_tag: str = "",
                  generator: str | None = None, base: Path | None = None,
                  where: str | None = None) -> Sequence[WorkItem]:
    """The inputs of a run of ``spec``: ``generator`` (an experiment's, relative to ``base``)
    or the pipeline's ``workload:``, else drawn from the ingress type's registry schema."""
    mix = dict(mix if mix is not None else DEFAULT_MIX)
    if generator == "payments":
        return payments_generator(n, seed, mix=mix, run_tag=run_tag)
    if generator in (None, "pipeline"):
        ref, base, where = spec.workload, spec.path.parent, spec.where("workload")
    elif generator == "schema":
        ref = None
    elif ":" not in generator:  # a name: workload.py:<name>_workload beside the pipeline
        ref, base = f"workload.py:{generator}_workload", spec.path.parent
    else:
        ref = generator
    if ref is None:
        from harness.workload_schema import schema_workload

        return schema_workload(spec, n, seed, mix=mix, run_tag=run_tag)
    where = where or "workload"
    fn = load_generator(ref, base=base or spec.path.parent, where=where)
    try:
        items = fn(n, seed, mix=mix, run_tag=run_tag)
    except PipelineError:
        raise
    except Exception as exc:
        raise PipelineError(f"workload generator {ref} failed: {type(exc).__name__}: {exc}",
                            where=where) from exc
    if isinstance(items, Lazy):
        return items
    if not isinstance(items, list) or not all(isinstance(i, WorkItem) for i in items):
        raise PipelineError(f"workload generator {ref} must return a list of WorkItem "
                            f"(expected {GENERATOR_SIGNATURE})", where=where)
    return items
