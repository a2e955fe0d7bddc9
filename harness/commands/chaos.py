"""``harness chaos run`` (one seed or a sweep), ``chaos merge``, ``check`` and ``replay``.

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
    from harness.report.progress import progress_bar, wanted

    seeds = _sweep_flags(args)
    exp = load_experiment(args.experiment)
    if args.variant:
        import dataclasses

        from harness.commands.incident import parse_variants

        swapped = {**exp.variants, **parse_variants(args.variant)}
        exp = dataclasses.replace(exp, variants={a: r for a, r in swapped.items() if r})
    simulate = bool(args.simulate or exp.simulate)
    if simulate:
        from harness.sim import check_simulatable

        check_simulatable(exp, args.broker)
    if seeds is not None:
        return _sweep(args, exp, seeds, simulate)
    seed = exp.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else Path("chaos-runs") / f"{exp.path.stem}-seed{seed}"
    err_console().print(
        f"[bold]chaos run[/] {exp.title} (seed {seed}, {_mode(args, exp, simulate)})"
    )
    with progress_bar("settled", total=None, enabled=wanted(args.json)) as bar:

        def progress(phase: str, sent: int, settled: int, total: int) -> None:
            bar.update(settled, total=total, note=f"({phase}, sent {sent})")

        result = _execute(args, exp, seed, out, simulate, progress)
    return _render_run(args, exp, seed, out, result)


def _mode(args: argparse.Namespace, exp: Any, simulate: bool) -> str:
    broker = redact_url(args.broker or exp.broker or "memory")
    mode = "simulated, memory" if simulate else f"broker {broker}"
    return mode + (", agents as processes" if args.processes else "")


def _execute(
    args: argparse.Namespace, exp: Any, seed: int, out: Path, simulate: bool, progress: Any
) -> Any:
    """One seed's run (simulated or on the broker); returns its RunResult."""
    if simulate:
        from harness.sim import simulate_experiment

        return simulate_experiment(
            exp, seed=seed, out_dir=out, progress=progress, coverage=args.coverage
        )
    from harness.chaos.runner import run_experiment

    network = _network(args.toxiproxy)

    async def go() -> Any:
        try:
            return await run_experiment(
                exp,
                seed=seed,
                broker=args.broker,
                out_dir=out,
                progress=progress,
                network=network,
                processes=args.processes,
                coverage=args.coverage,
            )
        finally:
            if network is not None:
                await network.aclose()

    return asyncio.run(go())


def _write(exp: Any, out: Path, result: Any) -> dict[str, Any]:
    """The run's results.json, junit.xml and report.html; returns the result's data."""
    from harness.chaos.analyze import write_run_files
    from harness.history import open_history

    data = result.to_dict()
    events = open_history(out / "history.jsonl")  # the report streams it
    data["files"] = write_run_files(data, events, out, suite=exp.path.stem)
    return data


def _render_run(args: argparse.Namespace, exp: Any, seed: int, out: Path, result: Any) -> int:
    from harness.report.console import verdict_label, verdict_table
    from harness.report.words import expectation_words, fired_words, result_line

    data = _write(exp, out, result)
    if args.json:
        print_json(data)
    else:
        con = out_console()
        con.print(verdict_table(result.verdicts, title=f"{exp.title} (seed {seed})"))
        con.print(f"faults fired: {fired_words(data.get('plan') or [], data.get('fired') or {})}")
        met = "as expected" if result.expectation_met else "NOT as expected"
        con.print(
            f"verdict: [bold]{verdict_label(result.valid)}[/]   expected "
            f"{expectation_words(data['expected'])} -> {met}"
        )
        if result.simulation:
            sim = result.simulation
            con.print(
                f"simulated: {sim['virtual_s']:.3f} s of virtual time in "
                f"{sim['wall_s']:.3f} s wall ({sim['ratio']}x real time)"
            )
        for agent, cov in (result.exercised.get("coverage") or {}).get("agents", {}).items():
            con.print(
                f"coverage {agent}: {cov['covered']}/{cov['handler_lines']} handler "
                f"lines ({cov['percent']}%), not run: {cov['missing'] or '-'}"
            )
        con.print(f"files: {out}/history.jsonl results.json junit.xml report.html")
        con.print(result_line(data, name=exp.path.stem, exit_code=result.exit_code), soft_wrap=True)
    return result.exit_code


def _sweep_flags(args: argparse.Namespace) -> list[int] | None:
    """--seeds and --shard, checked before anything runs (one exit-2 line when wrong)."""
    from harness.chaos.sweep import parse_seeds, parse_shard

    if args.seeds is None:
        if args.shard is not None:
            raise InputError(
                "--shard needs --seeds (the whole sweep's seeds, e.g. --seeds 1-1000 --shard 2/4)",
                where="--shard",
            )
        return None
    if args.seed is not None:
        raise InputError("give --seed (one run) or --seeds (a sweep), not both", where="--seeds")
    seeds = parse_seeds(args.seeds)
    args.shard_kn = parse_shard(args.shard, seeds=len(seeds)) if args.shard else None
    return seeds


def _sweep(args: argparse.Namespace, exp: Any, seeds: list[int], simulate: bool) -> int:
    from harness.chaos.sweep import identity, seed_ranges, shard_seeds, sweep
    from harness.report.sweep import write_sweep_files

    shard = args.shard_kn
    spec = seed_ranges(seeds)
    name = f"{exp.path.stem}-seeds{spec}" + (f"-shard{shard[0]}of{shard[1]}" if shard else "")
    out = Path(args.out) if args.out else Path("chaos-runs") / name
    mine = shard_seeds(seeds, *shard) if shard else seeds
    err = err_console()
    err.print(
        f"[bold]chaos sweep[/] {exp.title}: seeds {spec}"
        + (
            f", shard {shard[0]}/{shard[1]} ({len(mine)} seeds: {seed_ranges(mine)})"
            if shard
            else ""
        )
        + f" ({_mode(args, exp, simulate)})",
        soft_wrap=True,
    )
    broker = redact_url(args.broker or exp.broker or "memory")
    ident = identity(exp.path, exp.describe(), broker=broker, simulated=simulate)

    def run_one(seed: int, folder: Path) -> dict[str, Any]:
        return _write(exp, folder, _execute(args, exp, seed, folder, simulate, None))

    def on_seed(entry: dict[str, Any], done: int, total: int) -> None:
        from harness.report.words import verdict_label

        error = f": {entry['error']}" if entry.get("error") else ""
        err.print(
            f"  seed {entry['seed']}: {verdict_label(entry['valid'])}{error} "
            f"({entry['elapsed_s']} s) [{done}/{total}]",
            soft_wrap=True,
        )

    def write_partial(summary: dict[str, Any]) -> None:
        files = write_sweep_files(summary, out)
        err.print(f"sweep stopped; the seeds run so far are in {files['results']}", soft_wrap=True)

    summary = sweep(ident, seeds, shard, out, run_one, on_seed, write_partial)
    return _render_sweep(args, summary, write_sweep_files(summary, out))


def _render_sweep(args: argparse.Namespace, summary: dict[str, Any], files: dict[str, str]) -> int:
    from harness.report.words import verdict_label

    code = _code(summary["valid"])
    if args.json:
        print_json({**summary, "files": files, "exit_code": code})
        return code
    con = out_console()
    c = summary["counts"]
    for name, row in summary["checkers"].items():
        con.print(
            f"  {name:14} valid {row['valid']:>5}  invalid {row['invalid']:>5}  "
            f"unknown {row['unknown']:>5}  invalid on seeds: {row['invalid_seeds'] or '-'}",
            soft_wrap=True,
        )
    con.print(
        f"seeds run: {c['seeds']} of {summary['expected']} ({c['valid']} valid, "
        f"{c['invalid']} invalid, {c['unknown']} unknown; expectation met on "
        f"{c['expectation_met']})"
    )
    if summary["missing"]:
        shards = summary["missing_shards"]
        con.print(
            f"[bold red]MISSING[/] {summary['missing_count']} seeds: {summary['missing']}"
            + (f" (missing shards: {', '.join(map(str, shards))})" if shards else ""),
            soft_wrap=True,
        )
    con.print(f"verdict: [bold]{verdict_label(summary['valid'])}[/] (exit {code})")
    con.print(f"files: {files['results']} {files['junit']} {files['report']}", soft_wrap=True)
    return code


def _merge(args: argparse.Namespace) -> int:
    from harness.chaos.merge import merge_sweeps
    from harness.report.sweep import write_sweep_files

    out = Path(args.out) if args.out else Path("chaos-runs") / "merged"
    summary = merge_sweeps(args.dirs, out)  # every shard checked before anything is written
    return _render_sweep(args, summary, write_sweep_files(summary, out))


def _shrink(args: argparse.Namespace) -> int:
    from harness.report.progress import progress_bar, wanted
    from harness.sim.shrink import shrink_run

    err = err_console()
    err.print(
        f"[bold]chaos shrink[/] {args.run_dir} (each step a simulated run, at most {args.max_runs})"
    )
    with progress_bar("shrink", total=args.max_runs, enabled=wanted(args.json)) as bar:
        result = shrink_run(
            args.run_dir,
            out_dir=args.out,
            checker=args.checker,
            max_runs=args.max_runs,
            progress=lambda line: bar.advance(note=f"({line[:60]})"),
        )
    data = result.to_dict()
    if args.json:
        print_json(data)
    else:
        con = out_console()
        con.print(
            f"{result.failure.checker} ({result.failure.kind}): "
            f"{result.before['inputs']} inputs, {result.before['faults']} faults -> "
            f"[bold]{result.after['inputs']} inputs, {result.after['faults']} faults[/] "
            f"in {result.runs} simulated runs ({result.wall_s} s)"
        )
        for f in data["faults"]:
            con.print(
                f"  fault {f['fault']} on {f['target']} pinned to {f['message'] or '-'} "
                f"({f['correlation'] or '-'}) {f['params'] or ''}"
            )
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
    from harness.history import open_history, read_history
    from harness.report.console import verdict_label
    from harness.report.progress import progress_bar, wanted

    run_dir = Path(args.dir)
    before = load_results(run_dir)
    exp = load_experiment(before["experiment"]["path"])
    broker = args.broker or before.get("broker") or "memory"
    if MASK in broker:
        raise InputError(
            f"the run's broker URL was stored with its password hidden ({broker}); "
            "give it again with --broker URL",
            where=str(run_dir / "results.json"),
        )
    out = run_dir / "replay"
    simulated = bool(before.get("simulation")) and not args.broker
    err_console().print(
        f"[bold]replay[/] {exp.title} (seed {before['seed']}, "
        + ("simulated)" if simulated else f"broker {redact_url(broker)})")
    )
    with progress_bar("replay settled", total=None, enabled=wanted(args.json)) as bar:

        def progress(phase: str, sent: int, settled: int, total: int) -> None:
            bar.update(settled, total=total, note=f"({phase}, sent {sent})")

        if simulated:  # a simulated run replays under simulation: the same history, event by event
            from harness.sim import simulate_experiment

            result = simulate_experiment(
                exp, seed=int(before["seed"]), out_dir=out, progress=progress
            )
        else:
            result = asyncio.run(
                run_experiment(
                    exp,
                    seed=int(before["seed"]),
                    broker=broker,
                    out_dir=out,
                    network=_network(args.toxiproxy),
                    progress=progress,
                )
            )
    data = result.to_dict()
    write_run_files(data, open_history(out / "history.jsonl"), out, suite=exp.path.stem)
    same_plan = data["plan"] == before.get("plan")
    cmp = compare_verdicts(before.get("verdicts") or {}, data["verdicts"])
    report = {
        "run": str(run_dir),
        "seed": before["seed"],
        "same_plan": same_plan,
        "same_verdicts": cmp["same"],
        "checkers": cmp["checkers"],
        "replay": str(out),
    }
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
            con.print(
                f"  {name:14} {verdict_label(row['before']):8} -> "
                f"{verdict_label(row['after']):8} {mark}"
            )
        con.print(
            f"same fault plan: {same_plan}; same verdicts: {cmp['same']}"
            + (f"; same history: {report['same_history']}" if simulated else "")
        )
    return 0 if cmp["same"] and same_plan and report.get("same_history", True) else 1


def register(sub: Any) -> None:
    chaos = sub.add_parser("chaos", help="chaos experiments")
    chaos_sub = chaos.add_subparsers(dest="chaos_command", metavar="SUBCOMMAND")
    run = chaos_sub.add_parser("run", help="run an experiment file and check its history")
    run.add_argument("experiment", help="experiment file (chaos/*.yaml)")
    run.add_argument("--seed", type=int, default=None, help="override the file's seed")
    run.add_argument(
        "--seeds",
        default=None,
        metavar="A-B[,C,...]",
        help="a sweep: one run per seed (e.g. 1-1000), each in OUT/seed-S, plus a "
        "summary results.json, junit.xml and report.html in OUT",
    )
    run.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="with --seeds: run only shard K of N (K from 1; the seeds at sorted "
        "positions i with i %% N == K-1); combine with `chaos merge`",
    )
    run.add_argument(
        "--broker",
        default=None,
        help="memory (default), amqp://, redis://, nats:// or sqs:// (docs/transports.md)",
    )
    run.add_argument("--out", default=None, help="run folder (default chaos-runs/NAME-seedS)")
    run.add_argument(
        "--toxiproxy", default=None, help="Toxiproxy API URL for network faults, or embedded"
    )
    run.add_argument(
        "--processes",
        action="store_true",
        help="every agent in its own OS process (needs --broker amqp://...): "
        "kill is SIGKILL, pause SIGSTOP/SIGCONT, crashes kill the process",
    )
    run.add_argument(
        "--variant",
        action="append",
        metavar="AGENT=FILE.py:ATTR",
        help="swap AGENT's handler (AGENT= for the pipeline's own, e.g. the fixed "
        "version); repeatable",
    )
    run.add_argument(
        "--simulate",
        action="store_true",
        help="run on a virtual clock with seeded ordering (memory broker, "
        "in-process agents; same seed, same history)",
    )
    run.add_argument(
        "--coverage",
        action="store_true",
        help="measure the agents' handler line coverage (coverage.py)",
    )
    add_json_flag(run)
    run.set_defaults(func=_run)
    chaos.set_defaults(func=lambda a: (chaos.print_help(), 2)[1])

    merge = chaos_sub.add_parser(
        "merge",
        help="combine shards' sweep folders (chaos run --seeds ... --shard K/N) into "
        "one results.json, junit.xml and report.html",
    )
    merge.add_argument("dirs", nargs="+", metavar="DIR", help="shard folders (results.json)")
    merge.add_argument("--out", default=None, help="where to write (default chaos-runs/merged)")
    add_json_flag(merge)
    merge.set_defaults(func=_merge)

    shrink = chaos_sub.add_parser(
        "shrink",
        help="reduce a failing run to the fewest inputs and pinned faults that still "
        "fail the same checker the same way (simulated runs)",
    )
    shrink.add_argument("run_dir", help="a chaos run folder (results.json, history.jsonl)")
    shrink.add_argument("--out", default=None, help="where to write (default RUN_DIR/shrunk)")
    shrink.add_argument(
        "--checker",
        default=None,
        help="the checker whose failure to keep (default: the first invalid)",
    )
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
