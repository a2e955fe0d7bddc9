"""``harness fuzz``: fuzz every agent's ingress from its contracts with Hypothesis."""

from __future__ import annotations

import argparse
import random

from rich.table import Table

from harness.commands._common import add_json_flag, err_console, out_console, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuzz", help="fuzz each agent's ingress from its contracts (Hypothesis)",
                       description="Send valid, mutated and prompt-injected envelopes to each "
                       "agent of a pipeline and check that valid input is processed, invalid "
                       "input is dead-lettered with a reason, and nothing injected travels on.")
    p.add_argument("--pipeline", help="pipeline file (e.g. examples/payments/pipeline.yaml)")
    p.add_argument("--schema", help="instead of a pipeline: fuzz the binary validator of a "
                   ".proto or .avsc file (valid messages and labelled mutations)")
    p.add_argument("--message", help="with --schema: the Protobuf message (default: the first)")
    p.add_argument("--agent", default=None, help="fuzz only this agent")
    p.add_argument("--broker", default=None,
                   help="RabbitMQ URL: fuzz black-box agents through their queue")
    p.add_argument("--examples", type=int, default=100, help="inputs per agent (default 100)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    p.add_argument("--no-http", action="store_true",
                   help="skip the agents' HTTP endpoints (their `http:` apps, fuzzed with "
                        "Schemathesis by default)")
    p.add_argument("--stateful", type=int, default=0, metavar="N",
                   help="also run the stateful fuzzer over the whole pipeline for N sequences "
                        "(valid, invalid, duplicate inputs and restarts; default 0: off)")
    add_json_flag(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from harness.errors import InputError
    from harness.fuzz import fuzz_pipeline
    from harness.report.progress import Bar, progress_bar, wanted

    if args.examples < 1:
        raise InputError(f"--examples must be at least 1, got {args.examples}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.schema:
        return _fuzz_schema(args, seed)
    if not args.pipeline:
        raise InputError("needs --pipeline FILE (or --schema FILE.proto|.avsc)", where="fuzz")
    err = err_console()
    err.print(f"harness fuzz: seed={seed} examples={args.examples} pipeline={args.pipeline} "
              f"(rerun with --seed {seed})")
    # no refresh thread: an agent's budget may be split with a forked child (fuzz_agent)
    with progress_bar("fuzz", total=None, enabled=wanted(args.json), console=err,
                      thread=False) as first:
        bars: dict[str, Bar] = {}

        def progress(agent: str, done: int, total: int) -> None:
            if agent not in bars:
                bars[agent] = first.another(f"fuzz {agent}", total) if bars else first
                if len(bars) == 1:
                    first.update(0, total=total, note=agent)
            bars[agent].update(done)

        report = fuzz_pipeline(args.pipeline, agent=args.agent, examples=args.examples,
                               seed_=seed, progress=progress, broker=args.broker,
                               http=not args.no_http)
    stateful = None
    if args.stateful > 0:
        from harness.fuzz.stateful import run_stateful

        err.print(f"stateful fuzzing: {args.stateful} sequences")
        stateful = run_stateful(args.pipeline, examples=args.stateful, seed_=seed)
    if args.json:
        data = report.to_dict()
        if stateful is not None:
            data["stateful"] = stateful.to_dict()
            data["ok"] = data["ok"] and stateful.ok
        print_json(data)
    else:
        render(report)
        if stateful is not None:
            console = out_console()
            if stateful.ok:
                console.print(f"stateful: OK ({args.stateful} sequences, no loss, exactly once)")
            else:
                console.print("[bold red]stateful: FAILED[/] " + "; ".join(stateful.problems))
                console.print(stateful.reproducer, markup=False, highlight=False, soft_wrap=True)
    return 0 if report.ok and (stateful is None or stateful.ok) else 1


def _failures_cell(agent) -> str:
    if not agent.failures:
        return "0"
    f = agent.failures[0]
    return f"{len(agent.failures)}: {f.case.kind} ({f.case.note or 'as generated'}) -> " \
        f"{f.problems[0][:60]}"


def render(report, console=None) -> None:
    """The per-agent table, then each failure's shrunk input and reproducer."""
    console = console or out_console()
    table = Table(title=f"ingress fuzzing: {report.pipeline} (seed {report.seed}, "
                  f"{report.examples} examples per agent)")
    table.add_column("agent", no_wrap=True)
    for col in ("inputs", "valid", "invalid", "injection", "DLQ"):
        table.add_column(col, justify="right")
    table.add_column("failures")
    table.add_column("ex/s", justify="right")
    for a in report.agents:
        if a.skipped:
            table.add_row(a.agent, "-", "-", "-", "-", "-", f"skipped: {a.skipped}", "-")
            continue
        table.add_row(a.agent, str(a.inputs), str(a.valid), str(a.invalid), str(a.injection),
                      str(a.dead_lettered), _failures_cell(a),
                      f"{a.examples_per_s:.0f}")
    console.print(table)
    if report.http:
        http = Table(title="HTTP endpoints (Schemathesis: no 5xx, responses match the OpenAPI)")
        for col in ("agent", "app", "requests", "statuses", "failures"):
            http.add_column(col)
        for h in report.http:
            http.add_row(h.agent, h.app, str(h.requests),
                         ", ".join(f"{k}: {v}" for k, v in sorted(h.statuses.items())),
                         str(len(h.failures)))
        console.print(http)
        for h in report.http:
            for f in h.failures:
                console.print(f"[bold red]FAILED[/] {h.agent} {f.operation} ({f.mode}): "
                              + "; ".join(f.problems))
                console.print(f.reproducer, markup=False, highlight=False, soft_wrap=True)
    for a in report.agents:
        for f in a.failures:
            console.print(f"[bold red]FAILED[/] {a.agent}: " + "; ".join(f.problems))
            console.print(f"shrunk input ({f.case.kind}, {f.case.note or 'as generated'}):")
            console.print(f.reproducer, markup=False, highlight=False, soft_wrap=True)
    verdict = "OK" if report.ok else "FAILED"
    console.print(f"{verdict}: {sum(a.inputs for a in report.agents)} inputs, "
                  f"{sum(len(a.failures) for a in report.agents)} failing agent(s), "
                  f"{sum(len(h.failures) for h in report.http)} failing HTTP operation(s), "
                  f"seed {report.seed}")


def _fuzz_schema(args: argparse.Namespace, seed: int) -> int:
    """``harness fuzz --schema FILE``: valid and mutated binary messages of one schema."""
    from harness.errors import InputError
    from harness.fuzz.binary import fuzz_schema

    err_console().print(f"harness fuzz: seed={seed} examples={args.examples} "
                        f"schema={args.schema} (rerun with --seed {seed})")
    try:
        report = fuzz_schema(args.schema, examples=args.examples, seed=seed,
                             message=args.message)
    except ValueError as exc:
        raise InputError(str(exc), where=args.schema) from None
    if args.json:
        print_json(report.to_dict())
        return 0 if report.ok else 1
    table = Table(title=f"fuzz {args.schema} ({report.format}, seed {seed})")
    table.add_column("case")
    table.add_column("count", justify="right")
    table.add_row("valid messages accepted", str(report.valid))
    for label, count in sorted(report.mutations.items()):
        table.add_row(f"mutation: {label}", str(count))
    out_console().print(table)
    for failure in report.failures[:10]:
        out_console().print(f"[red]{failure['label']}[/]: {failure['problem']} "
                            f"(bytes {failure['hex'][:80]})")
    out_console().print("OK: every case classified as labelled" if report.ok
                        else f"FAILED: {len(report.failures)} case(s)")
    return 0 if report.ok else 1
