"""``harness contracts verify|publish|record-deployment`` and ``harness can-i-deploy``.

Message pacts between agents (see docs/contracts.md): verify a producer agent against its
consumers' pacts (local folder or Pact Broker), publish pacts, record deployments, and ask the
broker whether a version can be deployed. The broker commands run the Pact Foundation's own
client (``pact broker ...``, pact-python-cli) and render its answer.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rich.table import Table

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contracts", help="message pacts: verify, publish, record deployments",
                       description="Consumer-driven message contracts between agents (Pact).")
    csub = p.add_subparsers(dest="contracts_command", metavar="ACTION")

    v = csub.add_parser("verify", help="verify a producer agent against its consumers' pacts",
                        description="Verify a producer agent against every pact that names it, "
                        "producing each message through the agent's real code path.")
    v.add_argument("--provider", required=True, help="the producer agent's name (e.g. fraud)")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--pacts", default=None,
                     help="pact file or folder (default: pacts/ in the pipeline's registry)")
    src.add_argument("--broker", default=None, help="Pact Broker base URL")
    v.add_argument("--pipeline", default=None,
                   help="pipeline file (default: ./pipeline.yaml; an --incident names its own)")
    v.add_argument("--amqp-url", default=None,
                   help="RabbitMQ for a black-box provider (default amqp://guest:guest@"
                        "127.0.0.1:5672/): its messages come from the running service")
    v.add_argument("--agent", default=None,
                   help="replace the provider's handler: FILE.py:ATTR or module:attr")
    v.add_argument("--variant", default=None, help="a variant from the pipeline's 'variants'")
    v.add_argument("--incident", default=None, help="an incident file (chaos/incidents/*.yaml)")
    v.add_argument("--registry-overlay", default=None,
                   help="folder of extra schema versions (laid out like contracts/)")
    v.add_argument("--states", default=None,
                   help="provider states FILE.py:ATTR (default: provider_states.py:states "
                   "beside the pipeline)")
    v.add_argument("--provider-version", default=None, help="default: the agent's version")
    v.add_argument("--provider-branch", default=None, help="for broker selectors and results")
    v.add_argument("--selector", action="append", default=None, metavar="JSON",
                   help='consumer version selector, e.g. \'{"mainBranch": true}\' (repeatable; '
                   "default: mainBranch, deployedOrReleased, matchingBranch)")
    v.add_argument("--no-pending", action="store_true", help="do not ask for pending pacts")
    v.add_argument("--wip-since", default=None, help="include WIP pacts since DATE (YYYY-MM-DD)")
    v.add_argument("--publish", action="store_true", help="publish results to the broker")
    v.add_argument("--verbose", action="store_true", help="also print the verifier's own output")
    add_json_flag(v)
    v.set_defaults(func=verify_main)

    pub = csub.add_parser("publish", help="publish pact files to a Pact Broker")
    pub.add_argument("--pacts", default=None,
                     help="pact file or folder (default: pacts/ in the pipeline's registry)")
    pub.add_argument("--pipeline", default=None, help="pipeline file (default: ./pipeline.yaml)")
    pub.add_argument("--broker", default=None, help="broker URL (default: PACT_BROKER_BASE_URL)")
    pub.add_argument("--consumer-version", required=True)
    pub.add_argument("--branch", default=None)
    pub.add_argument("--tag", action="append", default=[])
    pub.add_argument("--consumer", default=None, help="publish only this consumer's pacts")
    add_json_flag(pub)
    pub.set_defaults(func=publish_main)

    env = csub.add_parser("create-environment", help="create a deployment environment")
    env.add_argument("--broker", default=None, help="broker URL (default: PACT_BROKER_BASE_URL)")
    env.add_argument("--name", required=True)
    env.add_argument("--production", action="store_true")
    add_json_flag(env)
    env.set_defaults(func=environment_main)

    rec = csub.add_parser("record-deployment", help="record that a version is deployed")
    rec.add_argument("--broker", default=None, help="broker URL (default: PACT_BROKER_BASE_URL)")
    rec.add_argument("--pacticipant", required=True)
    rec.add_argument("--version", required=True)
    rec.add_argument("--environment", required=True)
    add_json_flag(rec)
    rec.set_defaults(func=record_main)

    cid = sub.add_parser("can-i-deploy", help="ask the Pact Broker whether a version may deploy")
    cid.add_argument("--broker", default=None, help="broker URL (default: PACT_BROKER_BASE_URL)")
    cid.add_argument("--pacticipant", required=True)
    cid.add_argument("--version", required=True)
    cid.add_argument("--to-environment", required=True)
    add_json_flag(cid)
    cid.set_defaults(func=can_i_deploy_main)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _broker_url(args: argparse.Namespace) -> str:
    url = args.broker or os.environ.get("PACT_BROKER_BASE_URL")
    if not url:
        raise InputError("give --broker URL or set PACT_BROKER_BASE_URL", where="--broker")
    return url


def _broker(command: str, *args: str, url: str) -> Any:
    from harness.contracts.pact_cli import broker

    return broker(command, *args, url=url)


def verify_main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.contracts.target import resolve_target
    from harness.contracts.verify import BrokerOptions, verify_provider
    from harness.report.progress import progress_bar, wanted

    target = resolve_target(args.provider, pipeline=args.pipeline, agent_ref=args.agent,
                            variant=args.variant, incident=args.incident,
                            registry_overlay=args.registry_overlay, states_ref=args.states,
                            amqp_url=args.amqp_url)
    broker = None
    if args.publish and not args.broker:
        raise InputError("results are published to a broker: give --broker URL", where="--publish")
    if args.broker:
        broker = BrokerOptions(url=args.broker, token=os.environ.get("PACT_BROKER_TOKEN"),
                               username=os.environ.get("PACT_BROKER_USERNAME"),
                               password=os.environ.get("PACT_BROKER_PASSWORD"),
                               provider_branch=args.provider_branch,
                               include_pending=not args.no_pending, wip_since=args.wip_since,
                               publish=args.publish)
        if args.selector:
            broker.selectors = [_selector(s) for s in args.selector]
    pacts = args.pacts
    if broker is None and pacts is None:
        pacts = str(target.registry.root / "pacts")
    # the verifier silences fds 1 and 2 while it runs: the bar writes to a copy of stderr
    with os.fdopen(os.dup(2), "w", buffering=1) as stderr_copy, progress_bar(
            f"verify {args.provider}", total=None, enabled=wanted(args.json),
            console=Console(file=stderr_copy, highlight=False), capture=False) as bar:
        report = verify_provider(target, pacts=pacts, broker=broker,
                                 provider_version=args.provider_version, quiet=True,
                                 progress=lambda done, total: bar.update(done, total=total))
    if args.json:
        print_json(report.to_dict())
    else:
        if args.verbose:
            err_console().print(report.output, markup=False)
        render_report(report)
    return 0 if report.ok else 1


def _selector(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at column {exc.colno}", where="--selector") from exc
    if not isinstance(value, dict):
        raise InputError("must be a JSON object", where="--selector")
    return value


def render_report(report: Any) -> None:
    """The verification as one table: consumer, message, field, expected vs actual."""
    console = out_console()
    for notice in report.notices:
        console.print(f"notice: {notice}", markup=False)
    table = Table(title=f"contracts of {report.provider} {report.provider_version} "
                  f"({report.source})")
    for col in ("consumer", "message (provider state)", "result", "field", "expected",
                "actual"):
        table.add_column(col, overflow="fold")
    for o in report.outcomes:
        result = "ok" if o.ok else ("FAILED (pending)" if o.pending else "FAILED")
        message = o.description + (f" ({', '.join(o.states)})" if o.states else "")
        if o.ok or not o.mismatches:
            table.add_row(o.consumer, message, result, "", "", "")
        for i, m in enumerate(o.mismatches):
            first = i == 0
            actual = m.actual if m.kind != "HarnessError" else m.detail
            table.add_row(o.consumer if first else "", message if first else "",
                          result if first else "", m.path, m.expected, actual)
    console.print(table)
    failed = [o for o in report.outcomes if not o.ok and not o.pending]
    for o in report.failures:
        for m in o.mismatches:
            what = (m.detail if m.kind == "HarnessError"
                    else f"{m.path}: expected {m.expected}, got {m.actual}")
            console.print(f"{'pending: ' if o.pending else ''}{o.consumer} <- {report.provider} "
                          f"{o.description!r}: {what}", markup=False, soft_wrap=True)
    if failed:
        who = ", ".join(sorted({o.consumer for o in failed}))
        console.print(f"FAILED: {len(failed)} of {len(report.outcomes)} interactions; "
                      f"{report.provider} {report.provider_version} breaks: {who}", markup=False,
                      soft_wrap=True)
    else:
        console.print(f"OK: {len(report.outcomes)} interactions verified", markup=False)


def _default_pacts(pipeline: str | None) -> str:
    """``pacts/`` in the registry of ``--pipeline`` (else ./pipeline.yaml)."""
    from pathlib import Path

    from harness.contracts.target import find_pipeline
    from harness.pipeline import load_yaml_with_lines

    path = Path(pipeline).resolve() if pipeline else find_pipeline()
    raw = load_yaml_with_lines(path)
    registry = raw.get("registry", "contracts") if isinstance(raw, dict) else "contracts"
    return str((path.parent / str(registry) / "pacts").resolve())


def publish_main(args: argparse.Namespace) -> int:
    from harness.contracts.pactfiles import load_pacts

    folder = args.pacts or _default_pacts(args.pipeline)
    pacts = load_pacts(folder)  # checks every file first: one clear line for a broken one
    if args.consumer:
        pacts = [p for p in pacts if p.consumer == args.consumer]
    if not pacts:
        raise InputError("no pact files to publish", where=folder)
    url = _broker_url(args)
    extra = [*(["--branch", args.branch] if args.branch else []),
             *[a for tag in args.tag for a in ("--tag", tag)]]
    results = [_broker("publish", str(p.path), "--consumer-app-version", args.consumer_version,
                       *extra, url=url) for p in sorted(pacts, key=lambda p: str(p.path))]
    if args.json:
        print_json({"published": results})
    else:
        console = out_console()
        for res in results:
            for notice in (res or {}).get("notices", []):
                console.print(f"{notice.get('type', 'info')}: {notice.get('text', '')}",
                              markup=False)
    return 0


def environment_main(args: argparse.Namespace) -> int:
    result = _broker("create-environment", "--name", args.name,
                     *(["--production"] if args.production else []), url=_broker_url(args))
    if args.json:
        print_json(result)
    else:
        out_console().print(f"created environment {args.name} ({result.get('uuid', '?')})",
                            markup=False)
    return 0


def record_main(args: argparse.Namespace) -> int:
    result = _broker("record-deployment", "--pacticipant", args.pacticipant, "--version",
                     args.version, "--environment", args.environment, url=_broker_url(args))
    if args.json:
        print_json(result)
    else:
        out_console().print(f"recorded deployment of {args.pacticipant} {args.version} to "
                            f"{args.environment}", markup=False)
    return 0


def can_i_deploy_main(args: argparse.Namespace) -> int:
    answer = _broker("can-i-deploy", "--pacticipant", args.pacticipant, "--version",
                     args.version, "--to-environment", args.to_environment,
                     url=_broker_url(args))
    summary = answer.get("summary", {})
    if args.json:
        print_json(answer)
    else:
        console = out_console()
        table = Table(title=f"can {args.pacticipant} {args.version} deploy to "
                      f"{args.to_environment}?")
        for col in ("consumer", "c. version", "provider", "p. version", "verified"):
            table.add_column(col)
        for row in answer.get("matrix", []):
            ver = row.get("verificationResult") or {}
            table.add_row(row.get("consumer", {}).get("name", ""),
                          str(row.get("consumer", {}).get("version", {}).get("number", "")),
                          row.get("provider", {}).get("name", ""),
                          str((row.get("provider", {}).get("version") or {}).get("number", "")),
                          {True: "yes", False: "FAILED"}.get(ver.get("success"),  # type: ignore[arg-type]
                                                             "unknown"))
        console.print(table)
        console.print(f"{'YES' if summary.get('deployable') else 'NO'}: "
                      f"{summary.get('reason', '')}", markup=False)
        for notice in answer.get("notices", []):
            console.print(f"  - {notice.get('type', 'info')}: {notice.get('text', '')}",
                          markup=False)
    return 0 if summary.get("deployable") else 1
