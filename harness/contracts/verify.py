"""Provider side of message pacts: prove a producer agent still satisfies every consumer.

For each interaction of every pact that names the provider, pact-python's ``Verifier`` (the Rust
FFI does the matching) asks the harness for the message. The harness builds the provider's
*input* from the interaction's provider state (:mod:`harness.contracts.states`), runs it through
the agent's real runtime with :class:`~harness.agents.probe.AgentProbe`, and hands back the
emitted envelope's payload as contents and its type, schema version and producer as metadata.

A provider state without a handler, an input the agent dead-letters, or no emitted message of
the expected type fails that interaction with the harness's own reason (pact-python would report
a misleading metadata mismatch, or pass an unhandled state silently).

Results come from the verifier's structured ``results`` and are returned as a
:class:`VerifyReport` (rendered as a table by the CLI, or as JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.agents.probe import AgentProbe
from harness.agents.sdk import Agent
from harness.contracts.consumer import run_sync
from harness.contracts.pactfiles import PactFile, interaction_key, load_pacts
from harness.contracts.states import StateFn
from harness.contracts.target import ProviderTarget
from harness.envelope import Envelope
from harness.errors import InputError, ServiceUnavailable

__all__ = ["BrokerOptions", "Mismatch", "Outcome", "VerifyReport", "verify_provider"]

_MISSING_KEYS = re.compile(r"missing the following keys: (.+)$")


@dataclass
class Mismatch:
    """One difference between what a consumer expects and what the provider emitted.

    Attributes:
        path: JSON path of the field (``$.risk_level``) or ``metadata.KEY``; ``-`` for errors.
        expected: what the pact expects.
        actual: what the provider emitted.
        detail: the verifier's (or the harness's) explanation.
        kind: ``BodyMismatch``, ``MetadataMismatch`` or ``HarnessError``.
    """

    path: str
    expected: str
    actual: str
    detail: str
    kind: str


@dataclass
class Outcome:
    """One interaction's verification result.

    Attributes:
        consumer: the consumer agent that wrote the pact.
        description: the message description.
        states: provider state names.
        ok: the provider satisfied it.
        pending: a pending pact (its failure does not fail the build).
        mismatches: what differed.
    """

    consumer: str
    description: str
    states: list[str]
    ok: bool
    pending: bool = False
    mismatches: list[Mismatch] = field(default_factory=list)


@dataclass
class VerifyReport:
    """The result of verifying one provider.

    Attributes:
        provider: the provider agent's name.
        provider_version: the version verified (the agent's version unless overridden).
        source: pact folder or broker URL.
        outcomes: one per interaction.
        notices: broker notices and harness warnings.
        output: the verifier's own text output (ANSI stripped).
        ok: every non-pending interaction passed.
    """

    provider: str
    provider_version: str
    source: str
    outcomes: list[Outcome] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return all(o.ok or o.pending for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("output")
        data["ok"] = self.ok
        data["interactions"] = len(self.outcomes)
        data["failed"] = sum(1 for o in self.outcomes if not o.ok and not o.pending)
        data["pending_failed"] = sum(1 for o in self.outcomes if not o.ok and o.pending)
        return data


@dataclass
class BrokerOptions:
    """How to fetch pacts from a Pact Broker and publish results.

    Attributes:
        url: the broker's base URL.
        token / username / password: credentials (default: the PACT_BROKER_* variables).
        provider_branch: the provider's branch (for matchingBranch selectors and pending).
        selectors: consumer version selectors, broker JSON form (default: main branch,
            deployed or released, matching branch).
        include_pending: ask for pending status.
        wip_since: include WIP pacts since this date (``YYYY-MM-DD``).
        publish: publish verification results.
    """

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    provider_branch: str | None = None
    selectors: list[dict[str, Any]] = field(default_factory=lambda: [
        {"mainBranch": True}, {"deployedOrReleased": True}, {"matchingBranch": True}])
    include_pending: bool = True
    wip_since: str | None = None
    publish: bool = False


_SELECTOR_KEYS = {"mainBranch": "main_branch", "branch": "branch", "deployedOrReleased":
                  "deployed_or_released", "deployed": "deployed", "released": "released",
                  "environment": "environment", "matchingBranch": "matching_branch",
                  "consumer": "consumer", "latest": "latest", "tag": "tag",
                  "fallbackBranch": "fallback_branch", "fallbackTag": "fallback_tag"}


class _Producer:
    """The verifier's message handler: state -> input -> agent runtime -> emitted message."""

    def __init__(self, target: ProviderTarget, expected_types: dict[tuple[str, tuple[str, ...]],
                                                                     set[str]]) -> None:
        self.target = target
        self.expected_types = expected_types
        self.errors: dict[tuple[str, tuple[str, ...]], str] = {}
        self.session: Any = None  # harness.blackbox.driver.DriverSession for a black box

    def __call__(self, description: str, metadata: dict[str, Any]) -> dict[str, Any]:
        states = [s for s in (metadata or {}).get("providerStates") or [] if isinstance(s, dict)]
        key = (description, tuple(str(s.get("name", "")) for s in states))
        try:
            env = self.produce(description, states, key)
        except Exception as exc:
            self.errors[key] = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, _HandlerError) else str(exc)
            return {"contents": json.dumps({"harness_error": str(exc)}).encode(),
                    "metadata": {}, "content_type": "application/json"}
        return {"contents": json.dumps(self._contents(env)).encode("utf-8"),
                "metadata": {"type": env.type, "schema_version": str(env.schema_version),
                             "producer": env.producer.agent},
                "content_type": "application/json"}

    def _contents(self, env: Envelope) -> Any:
        """The payload as the pact sees it: a Protobuf/Avro payload is decoded (and checked)
        against its registry version, so one JSON pact covers every wire format."""
        from harness.contracts.binary import decode_payload, is_binary_payload

        if not is_binary_payload(env.payload):
            return env.payload
        value = decode_payload(self.target.registry, env.type, env.schema_version, env.payload)
        return json.loads(json.dumps(value, default=lambda b: b.hex()))

    def produce(self, description: str, states: list[dict[str, Any]],
                key: tuple[str, tuple[str, ...]]) -> Envelope:
        agent = self.target.agent
        if not states:
            raise _HandlerError(f"{description!r} names no provider state, so the harness cannot "
                                f"build an input for {agent.name}")
        inputs: list[Envelope] = []
        for state in states:
            fn: StateFn | None = self.target.states.get(state["name"])
            if fn is None:
                known = ", ".join(repr(s) for s in self.target.states) or "none"
                raise _HandlerError(f"provider state {state['name']!r} has no handler for "
                                    f"{agent.name} in {self.target.states_ref} (known: {known})")
            inputs.append(fn(dict(state.get("params") or {})))
        if self.session is not None:  # a black box: through the running service's queue
            result = self.session.send(inputs[0])
        else:
            result = run_sync(self._run(inputs[0]))
        if result.outcome != "acked":
            why = "; ".join(f"{d.reason}: {d.detail}" for d in result.dead_letters)
            raise _HandlerError(f"{agent.name} did not ack the input of state {states[0]['name']!r}"
                                f" (outcome {result.outcome}{': ' + why if why else ''})")
        wanted = self.expected_types.get(key, set())
        emitted = [e for e in result.emitted if not wanted or e.type in wanted]
        if not emitted:
            got = ", ".join(e.type for e in result.emitted) or "nothing"
            raise _HandlerError(f"{agent.name} emitted {got}, not {' or '.join(sorted(wanted))}, "
                                f"in state {states[0]['name']!r}")
        return emitted[0]

    async def _run(self, envelope: Envelope) -> Any:
        async with AgentProbe(self.target.agent, self.target.registry,
                              params=self.target.params,
                              dependencies=self.target.dependencies) as probe:
            return await probe.send(envelope)


class _HandlerError(Exception):
    """A reason the harness could not produce a message (reported as is)."""


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence file descriptors 1 and 2 for a while: the Rust verifier prints its report on
    stdout and the message server logs each request on stderr (both are kept in
    ``report.output``); ``--json`` needs stdout to carry only JSON."""
    if not enabled:
        with contextlib.redirect_stdout(sys.stderr):
            saved = os.dup(1)
            os.dup2(2, 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
                os.close(saved)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fds = [os.dup(1), os.dup(2)]
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (*fds, sink):
            os.close(fd)


def _mismatches(raw: dict[str, Any] | None) -> list[Mismatch]:
    rows: list[Mismatch] = []
    for m in (raw or {}).get("mismatches") or []:
        kind = str(m.get("type", ""))
        detail = str(m.get("mismatch", ""))
        path = str(m.get("path") or (f"metadata.{m['key']}" if m.get("key") else "$"))
        missing = _MISSING_KEYS.search(detail)
        if missing and kind == "BodyMismatch":
            for name in (k.strip() for k in missing.group(1).split(",")):
                rows.append(Mismatch(f"{path}.{name}" if path != "$" else f"$.{name}",
                                     "present", "missing", detail, kind))
            continue
        rows.append(Mismatch(path, str(m.get("expected", "")), str(m.get("actual", "")),
                             detail, kind))
    if raw and not rows and raw.get("message"):
        rows.append(Mismatch("-", "", "", str(raw["message"]), str(raw.get("type", "error"))))
    return rows


def verify_provider(target: ProviderTarget, *, pacts: str | Path | None = None,
                    broker: BrokerOptions | None = None, provider_version: str | None = None,
                    quiet: bool = True,
                    progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Verify one producer agent against every pact that names it.

    Args:
        target: the provider agent, its registry, params and provider states.
        pacts: a pact file or folder (ignored when ``broker`` is given).
        broker: fetch pacts from a broker (and maybe publish results) instead.
        provider_version: the version to report and publish (default: the agent's).
        quiet: keep the verifier's own text off stdout (it is in ``report.output``).
        progress: called with (messages produced, interactions) as the verifier asks.

    Raises:
        InputError: malformed pact files, or no pact names the provider.
        ServiceUnavailable: the broker cannot be reached.
    """
    from pact import Verifier

    agent: Agent = target.agent
    version = provider_version or agent.version
    expected: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    notices: list[str] = []
    files: list[PactFile] = []
    if broker is None:
        if pacts is None:
            raise InputError("give a pact folder (--pacts) or a broker (--broker)")
        files = load_pacts(pacts, provider=agent.name)
        if not files:
            raise InputError(f"no pact names provider {agent.name!r}", where=str(pacts))
    else:
        from harness.contracts.broker_pacts import fetch_pacts_for_verification

        files, more = fetch_pacts_for_verification(
            broker.url, agent.name, selectors=broker.selectors,
            provider_branch=broker.provider_branch, include_pending=broker.include_pending,
            wip_since=broker.wip_since, token=broker.token, username=broker.username,
            password=broker.password)
        notices += more
    for pact in files:
        for inter in pact.interactions:
            md = inter.get("metadata") or {}
            if md.get("type"):
                expected.setdefault(interaction_key(inter), set()).add(str(md["type"]))
        for state in pact.states():
            if state not in target.states:
                notices.append(f"pact {pact.consumer}-{pact.provider} uses provider state "
                               f"{state!r}, which has no handler for {agent.name}: its "
                               "interactions fail")
    handler = _Producer(target, expected)
    interactions = sum(len(pact.interactions) for pact in files)
    produced = [0]

    def message(name: str, metadata: dict[str, Any]) -> Any:  # a pact Message dictionary
        try:
            return handler(name, metadata)
        finally:
            produced[0] += 1
            if progress is not None:
                progress(produced[0], max(interactions, produced[0]))

    verifier = Verifier(agent.name).message_handler(message).set_coloured_output(enabled=False)
    if broker is None:
        for pact in files:
            verifier.add_source(str(pact.path))
        source = str(pacts)
    else:
        source = broker.url
        if not files:
            notices.append(f"the broker has no pacts for {agent.name} under these selectors")
            return VerifyReport(agent.name, version, source, [], notices)
        builder = verifier.broker_source(  # type: ignore[call-overload]
            broker.url, token=broker.token, username=broker.username, password=broker.password,
            selector=True)
        builder = builder.include_pending() if broker.include_pending else builder.exclude_pending()
        builder = (builder.include_wip_since(broker.wip_since) if broker.wip_since
                   else builder.exclude_wip())
        if broker.provider_branch:
            builder = builder.provider_branch(broker.provider_branch)
        for sel in broker.selectors:
            builder = builder.consumer_version(**{_SELECTOR_KEYS[k]: v for k, v in sel.items()
                                                  if k in _SELECTOR_KEYS})
        verifier = builder.build()
        if broker.publish:
            verifier.set_publish_options(version, branch=broker.provider_branch)
    error: Exception | None = None
    session: Any = contextlib.nullcontext()
    if target.black_box is not None:
        from harness.blackbox.driver import BlackBoxDriver, DriverSession

        spec, url = target.black_box
        session = DriverSession(BlackBoxDriver(spec, agent.name, broker=url,
                                               registry=target.registry))
    with session as running, _quiet(quiet):
        handler.session = running
        try:
            verifier.verify()
        except RuntimeError as exc:
            error = exc
    results = verifier.results or {}
    report = VerifyReport(agent.name, version, source, notices=notices,
                          output=str(verifier.output(strip_ansi=True)))
    for item in results.get("interactionResults") or []:
        states = [s if isinstance(s, str) else s.get("name", "") for s in
                  item.get("providerStates") or []]
        key = (str(item.get("description", "")), tuple(states))
        outcome = Outcome(str(item.get("consumer", "?")), key[0], states,
                          ok=item.get("result") == "Ok" or (not item.get("mismatch")
                                                          and key not in handler.errors),
                          pending=bool(item.get("pending")))
        if key in handler.errors:
            outcome.ok = False
            outcome.mismatches = [Mismatch("-", "a message", "none", handler.errors[key],
                                           "HarnessError")]
        elif not outcome.ok:
            outcome.mismatches = _mismatches(item.get("mismatch"))
        report.outcomes.append(outcome)
    if error is not None and not report.outcomes:
        text = report.output.strip().splitlines()
        raise ServiceUnavailable(f"the verifier failed before verifying anything against "
                                 f"{source}: {text[-1] if text else error}")
    return report

