"""Schemathesis against an agent's OpenAPI-described HTTP endpoint (an ASGI app, in-process).

For every operation in the app's OpenAPI document, positive (schema-conforming) and negative
(schema-violating) requests are generated with the run's seed and sent through Schemathesis's
ASGI transport. Checks: no 5xx (``not_a_server_error``), every status code and content type is
documented, and every response body matches its documented schema. A pipeline agent declares its
endpoint with ``http: FILE.py:APP`` (and optionally ``openapi: /openapi.json``)::

    report = fuzz_http("examples/rides/pricing_api.py:app", examples=100, seed_=1)
    assert report.ok, [f.reproducer for f in report.failures]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Unsatisfiable

__all__ = ["HttpFailure", "HttpReport", "fuzz_http", "load_app", "replay_http"]


@dataclass
class HttpFailure:
    """One failing request: what broke, and a pytest test replaying it."""

    operation: str
    mode: str
    problems: list[str]
    request: dict[str, Any]
    reproducer: str

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "mode": self.mode, "problems": self.problems,
                "request": self.request, "reproducer": self.reproducer}


@dataclass
class HttpReport:
    """Per-endpoint results: requests sent by operation and mode, status codes, failures."""

    app: str
    seed: int
    agent: str = ""
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    operations: list[str] = field(default_factory=list)
    failures: list[HttpFailure] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "app": self.app, "seed": self.seed, "ok": self.ok,
                "requests": self.requests, "statuses": dict(sorted(self.statuses.items())),
                "operations": self.operations, "elapsed_s": round(self.elapsed_s, 3),
                "failures": [f.to_dict() for f in self.failures]}


def load_app(ref: str, *, base: Path | None = None) -> Any:
    """Import ``FILE.py:ATTR`` (relative to ``base``) or ``module:attr``."""
    from harness.pipeline import load_object

    return load_object(ref, base=base or Path.cwd(), where=f"http app {ref}")


def _checks() -> list[Any]:
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance,
            response_schema_conformance]


def _request(case: Any) -> dict[str, Any]:
    from schemathesis.core import NotSet

    out: dict[str, Any] = {"method": case.method, "path": case.formatted_path}
    for name in ("query", "headers", "path_parameters"):
        value = getattr(case, name, None)
        if value:
            out[name] = dict(value)
    if not isinstance(case.body, NotSet):
        out["body"] = case.body
        out["media_type"] = case.media_type
    return out


def fuzz_http(app_ref: str, *, examples: int = 100, seed_: int = 0, openapi: str = "/openapi.json",
              base: Path | None = None, agent: str = "") -> HttpReport:
    """Run Schemathesis against the ASGI app ``app_ref`` (``FILE.py:APP`` or ``module:app``)."""
    import schemathesis
    from schemathesis import GenerationMode

    app = load_app(app_ref, base=base)
    schema = schemathesis.openapi.from_asgi(openapi, app)
    report = HttpReport(app_ref, seed_, agent)
    checks = _checks()
    started = time.monotonic()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            report.operations.append(operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(report, operation, mode, checks, examples=examples,
                                seed_=seed_, openapi=openapi)
    finally:
        _stop_portal()
    report.elapsed_s = time.monotonic() - started
    return report


def _stop_portal() -> None:
    """Stop the event-loop thread that Schemathesis keeps for ASGI apps (else it lives until
    the process exits, and a process with a second thread cannot split an agent's fuzz budget
    with a forked child: harness.forking). Schemathesis starts another for the next app."""
    try:
        from schemathesis.python import asgi
    except ImportError:  # another layout (schemathesis is pinned <5): the thread stays
        return
    shutdown = getattr(asgi, "_shutdown", None)
    if callable(shutdown):
        shutdown()


def _fuzz_operation(report: HttpReport, operation: Any, mode: Any, checks: list[Any], *,
                    examples: int, seed_: int, openapi: str) -> None:
    failed: dict[str, Any] = {}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
    @seed(seed_)
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        try:
            response = case.call_and_validate(checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis FailureGroup
            failed["case"], failed["error"] = case, exc
            raise
        if not failed:
            report.requests += 1
            key = str(response.status_code)
            report.statuses[key] = report.statuses.get(key, 0) + 1

    try:
        run()
    except Unsatisfiable:  # nothing to violate (e.g. negative mode, no parameters)
        return
    except (Exception, BaseExceptionGroup) as exc:
        if "case" not in failed:
            raise
        request = _request(failed["case"])
        problems = _problems(failed["error"]) or [type(exc).__name__]
        report.failures.append(HttpFailure(
            operation.label, mode.value, problems, request,
            _reproducer(report.app, openapi, operation.label, request, problems, seed_)))


def replay_http(app_ref: str, *, method: str, path: str, openapi: str = "/openapi.json",
                body: Any = None, media_type: str | None = None,
                query: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
                path_parameters: dict[str, Any] | None = None) -> None:
    """Send one request through Schemathesis and run the same checks (raises on failure)."""
    import schemathesis
    from schemathesis.core import NotSet

    schema = schemathesis.openapi.from_asgi(openapi, load_app(app_ref))
    template = path if path_parameters is None else None
    operation = None
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]
        if op.method.upper() == method.upper() and (op.path == path or op.path == template):
            operation = op
    if operation is None:
        raise AssertionError(f"no operation {method} {path} in {app_ref}")
    case = operation.Case(body=NotSet() if body is None and media_type is None else body,
                          media_type=media_type, query=query, headers=headers,
                          path_parameters=path_parameters)
    case.call_and_validate(checks=_checks())


def _problems(exc: BaseException) -> list[str]:
    """One line per failed check (titles of a schemathesis FailureGroup, else the message)."""
    inner = getattr(exc, "exceptions", None)
    if inner:
        out = []
        for e in inner:
            title = getattr(e, "title", None) or type(e).__name__
            message = str(getattr(e, "message", "") or e).strip().splitlines()
            out.append(f"{title}: {message[0][:200]}" if message else title)
        return out
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not isinstance(exc, AssertionError):  # the app raised instead of answering: a 500
        return [f"server error: the app raised {type(exc).__name__}: {lines[0] if lines else ''}"]
    return lines[:3]


def _reproducer(app_ref: str, openapi: str, label: str, request: dict[str, Any],
                problems: list[str], seed_: int) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in label).lower().strip("_")
    args = ", ".join(f"{k}={v!r}" for k, v in request.items())
    notes = "\n".join(f"    #   {p}" for p in problems)
    return (
        f"def test_http_fuzz_{slug}():\n"
        f"    # found by fuzz_http({app_ref!r}, seed_={seed_}):\n{notes}\n"
        "    from harness.fuzz.http import replay_http\n\n"
        f"    replay_http({app_ref!r}, openapi={openapi!r}, {args})\n"
    )
