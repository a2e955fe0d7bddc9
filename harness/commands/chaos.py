"""``harness chaos run``, ``harness check`` and ``harness replay``.

Exit codes follow Jepsen: 0 valid, 1 invalid, 2 unknown or bad input.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.errors import InputError
from harness.redact import MASK, redact_url

__all__ = ["register"]


def _code(valid: Any) -> int:
    return {True: 0, False: 1}.get(valid, 2)


def _network(url: str | None) -> Any:
    if not url:
        return None
    from harness.chaos.network import NetworkFaults

    if url == "embedded":
        return NetworkFaults(embedded=True)
    return NetworkFaults(url)


def _run(args: argparse.Namespace) -> int:
    from harness.chaos.experiment import load_experiment
    from harness.chaos.runner import run_experiment
    from harness.report.progress import Bar, progress_bar, wanted

    exp = load_experiment(args.experiment)
    if args.variant:
        import dataclasses

        from harness.commands.incident import parse_variants

        swapped = {**exp.variants, **parse_variants(args.variant)}
        exp = dataclasses.replace(exp, variants={a: r for a, r in swapped.items() if r})
    seed = exp.seed if args.seed is None else args.seed
    simulate = bool(args.simulate or exp.simulate)
    if simulate:
        from harness.sim import check_simulatable

        check_simulatable(exp, args.broker)
    out = Path(args.out) if args.out else Path("chaos-runs") / f"{exp.path.stem}-seed{seed}"
    err = err_console()
    broker = redact_url(args.broker or exp.broker or "memory")
    mode = "simulated, memory" if simulate else f"broker {broker}"
    if args.processes:
        mode += ", agents as processes"
    err.print(f"[bold]chaos run[/] {exp.title} (seed {seed}, {mode})")
    if simulate:
        from harness.sim import simulate_experiment

        with progress_bar("settled", total=None, enabled=wanted(args.json)) as bar:
            def sim_progress(phase: str, sent: int, settled: int, total: int) -> None:
                bar.update(settled, total=total, note=f"({phase}, sent {sent})")

            result = simulate_experiment(exp, seed=seed, out_dir=out, progress=sim_progress,
                                         coverage=args.coverage)
        return _render_run(args, exp, seed, out, result)
    network = _network(args.toxiproxy)

    async def go(bar: Bar) -> Any:
        def progress(phase: str, sent: int, settled: int, total: int) -> None:
            bar.update(settled, total=total, note=f"({phase}, sent {sent})")

        try:
            return await run_experiment(exp, seed=seed, broker=args.broker, out_dir=out,
                                        progress=progress, network=network,
                                        processes=args.processes, coverage=args.coverage)
        finally:
            if network is not None:
                await network.aclose()

    with progress_bar("settled", total=None, enabled=wanted(args.json)) as bar:
        result = asyncio.run(go(bar))
    return _render_run(args, exp, seed, out, result)


def _render_run(args: argparse.Namespace, exp: Any, seed: int, out: Path, result: Any) -> int:
    from harness.chaos.analyze import write_run_files
    from harness.history import read_history
    from harness.report.console import verdict_label, verdict_table
    from harness.report.words import expectation_words, fired_words, result_line

    data = result.to_dict()
    events = read_history(out / "history.jsonl").events
    data["files"] = write_run_files(data, events, out, suite=exp.path.stem)
    if args.json:
        print_json(data)
    else:
        con = out_console()
        con.print(verdict_table(result.verdicts, title=f"{exp.title} (seed {seed})"))
        con.print(f"faults fired: {fired_words(data.get('plan') or [], data.get('fired') or {})}")
        met = "as expected" if result.expectation_met else "NOT as expected"
        con.print(f"verdict: [bold]{verdict_label(result.valid)}[/]   expected "
                  f"{expectation_words(data['expected'])} -> {met}")
        if result.simulation:
            sim = result.simulation
            con.print(f"simulated: {sim['virtual_s']:.3f} s of virtual time in "
                      f"{sim['wall_s']:.3f} s wall ({sim['ratio']}x real time)")
        for agent, cov in (result.exercised.get("coverage") or {}).get("agents", {}).items():
            con.print(f"coverage {agent}: {cov['covered']}/{cov['handler_lines']} handler "
                      f"lines ({cov['percent']}%), not run: {cov['missing'] or '-'}")
        con.print(f"files: {out}/history.jsonl results.json junit.xml report.html")
        con.print(result_line(data, name=exp.path.stem, exit_code=result.exit_code), soft_wrap=True)
    return result.exit_code


def _shrink(args: argparse.Namespace) -> int:
    from harness.report.progress import progress_bar, wanted
    from harness.sim.shrink import shrink_run

    err = err_console()
    err.print(f"[bold]chaos shrink[/] {args.run_dir} (each step a simulated run, "
              f"at most {args.max_runs})")
    with progress_bar("shrink", total=args.max_runs, enabled=wanted(args.json)) as bar:
        result = shrink_run(args.run_dir, out_dir=args.out, checker=args.checker,
                            max_runs=args.max_runs,
                            progress=lambda line: bar.advance(note=f"({line[:60]})"))
    data = result.to_dict()
    if args.json:
        print_json(data)
    else:
        con = out_console()
        con.print(f"{result.failure.checker} ({result.failure.kind}): "
                  f"{result.before['inputs']} inputs, {result.before['faults']} faults -> "
                  f"[bold]{result.after['inputs']} inputs, {result.after['faults']} faults[/] "
                  f"in {result.runs} simulated runs ({result.wall_s} s)")
        for f in data["faults"]:
            con.print(f"  fault {f['fault']} on {f['target']} pinned to {f['message'] or '-'} "
                      f"({f['correlation'] or '-'}) {f['params'] or ''}")
        con.print(f"files: {result.files['experiment']}  {result.files['test']}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from harness.chaos.analyze import check_history
    from harness.report.console import verdict_label, verdict_table

    names = [n.strip() for n in args.checkers.split(",")] if args.checkers else None
    res = check_history(args.history, checkers=names, registry=args.registry)
    if args.json:
        print_json({**res, "verdicts": {k: v.to_dict() for k, v in res["verdicts"].items()}})
    else:
        con = out_console()
        con.print(verdict_table(res["verdicts"], title=f"{args.history} ({res['events']} events)"))
        if res["truncated"]:
            con.print("[yellow]the history's last line was cut short[/]")
        con.print(f"verdict: [bold]{verdict_label(res['valid'])}[/]")
    return _code(res["valid"])


def _replay(args: argparse.Namespace) -> int:
    from harness.chaos.analyze import compare_verdicts, load_results, write_run_files
    from harness.chaos.experiment import load_experiment
    from harness.chaos.runner import run_experiment
    from harness.history import read_history
    from harness.report.console import verdict_label
    from harness.report.progress import progress_bar, wanted

    run_dir = Path(args.dir)
    before = load_results(run_dir)
    exp = load_experiment(before["experiment"]["path"])
    broker = args.broker or before.get("broker") or "memory"
    if MASK in broker:
        raise InputError(f"the run's broker URL was stored with its password hidden ({broker}); "
                         "give it again with --broker URL", where=str(run_dir / "results.json"))
    out = run_dir / "replay"
    simulated = bool(before.get("simulation")) and not args.broker
    err_console().print(f"[bold]replay[/] {exp.title} (seed {before['seed']}, "
                         + ("simulated)" if simulated else f"broker {redact_url(broker)})"))
    with progress_bar("replay settled", total=None, enabled=wanted(args.json)) as bar:
        def progress(phase: str, sent: int, settled: int, total: int) -> None:
            bar.update(settled, total=total, note=f"({phase}, sent {sent})")

        if simulated:  # a simulated run replays under simulation: the same history, event by event
            from harness.sim import simulate_experiment

            result = simulate_experiment(exp, seed=int(before["seed"]), out_dir=out,
                                         progress=progress)
        else:
            result = asyncio.run(run_experiment(exp, seed=int(before["seed"]), broker=broker,
                                                out_dir=out, network=_network(args.toxiproxy),
                                                progress=progress))
    data = result.to_dict()
    write_run_files(data, read_history(out / "history.jsonl").events, out, suite=exp.path.stem)
    same_plan = data["plan"] == before.get("plan")
    cmp = compare_verdicts(before.get("verdicts") or {}, data["verdicts"])
    report = {"run": str(run_dir), "seed": before["seed"], "same_plan": same_plan,
              "same_verdicts": cmp["same"], "checkers": cmp["checkers"], "replay": str(out)}
    if simulated:
        from harness.sim import comparable

        def lines(d: Path) -> list[dict[str, Any]]:
            return [comparable(e) for e in read_history(d / "history.jsonl").events]

        report["same_history"] = lines(run_dir) == lines(out)
    if args.json:
        print_json(report)
    else:
        con = out_console()
        for name, row in cmp["checkers"].items():
            mark = "same" if row["same"] else "DIFFERENT"
            con.print(f"  {name:14} {verdict_label(row['before']):8} -> "
                      f"{verdict_label(row['after']):8} {mark}")
        con.print(f"same fault plan: {same_plan}; same verdicts: {cmp['same']}"
                  + (f"; same history: {report['same_history']}" if simulated else ""))
    return 0 if cmp["same"] and same_plan and report.get("same_history", True) else 1


def register(sub: Any) -> None:
    chaos = sub.add_parser("chaos", help="chaos experiments")
    chaos_sub = chaos.add_subparsers(dest="chaos_command", metavar="SUBCOMMAND")
    run = chaos_sub.add_parser("run", help="run an experiment file and check its history")
    run.add_argument("experiment", help="experiment file (chaos/*.yaml)")
    run.add_argument("--seed", type=int, default=None, help="override the file's seed")
    run.add_argument("--broker", default=None, help="memory (default), amqp://, redis://, "
                   "nats:// or sqs:// (docs/transports.md)")
    run.add_argument("--out", default=None, help="run folder (default chaos-runs/NAME-seedS)")
    run.add_argument("--toxiproxy", default=None,
                     help="Toxiproxy API URL for network faults, or embedded")
    run.add_argument("--processes", action="store_true",
                     help="every agent in its own OS process (needs --broker amqp://...): "
                          "kill is SIGKILL, pause SIGSTOP/SIGCONT, crashes kill the process")
    run.add_argument("--variant", action="append", metavar="AGENT=FILE.py:ATTR",
                     help="swap AGENT's handler (AGENT= for the pipeline's own, e.g. the fixed "
                          "version); repeatable")
    run.add_argument("--simulate", action="store_true",
                     help="run on a virtual clock with seeded ordering (memory broker, "
                          "in-process agents; same seed, same history)")
    run.add_argument("--coverage", action="store_true",
                     help="measure the agents' handler line coverage (coverage.py)")
    add_json_flag(run)
    run.set_defaults(func=_run)
    chaos.set_defaults(func=lambda a: (chaos.print_help(), 2)[1])

    shrink = chaos_sub.add_parser(
        "shrink", help="reduce a failing run to the fewest inputs and pinned faults that still "
                       "fail the same checker the same way (simulated runs)")
    shrink.add_argument("run_dir", help="a chaos run folder (results.json, history.jsonl)")
    shrink.add_argument("--out", default=None, help="where to write (default RUN_DIR/shrunk)")
    shrink.add_argument("--checker", default=None,
                        help="the checker whose failure to keep (default: the first invalid)")
    shrink.add_argument("--max-runs", type=int, default=300, help="most simulated runs")
    add_json_flag(shrink)
    shrink.set_defaults(func=_shrink)

    check = sub.add_parser("check", help="re-run the checkers on a stored history")
    check.add_argument("history", help="history.jsonl")
    check.add_argument("--checkers", default=None, help="comma-separated checker names")
    check.add_argument("--registry", default=None, help="schema registry folder (wire)")
    add_json_flag(check)
    check.set_defaults(func=_check)

    replay = sub.add_parser("replay", help="re-run a stored run from its seed and experiment")
    replay.add_argument("dir", help="a chaos run folder (with results.json)")
    replay.add_argument("--broker", default=None, help="override the broker")
    replay.add_argument("--toxiproxy", default=None, help="Toxiproxy API URL")
    add_json_flag(replay)
    replay.set_defaults(func=_replay)
