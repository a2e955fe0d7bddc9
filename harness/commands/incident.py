"""``harness incident from-history|from-dlq|from-otlp`` and ``harness export otlp``.

Each ``incident from-*`` writes an incident file (an experiment with the recorded inputs, the
recorded faults pinned to their messages and the recorded verdict as ``expect``); run it with
``harness chaos run FILE`` (simulated) and swap an agent with ``--variant AGENT=FILE.py:ATTR``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.commands._common import add_json_flag, err_console, out_console, print_json
from harness.errors import InputError

__all__ = ["parse_variants", "register"]


def parse_variants(values: list[str] | None) -> dict[str, str]:
    """``AGENT=FILE.py:ATTR`` (or ``AGENT=`` for the pipeline's own handler) -> mapping."""
    out: dict[str, str] = {}
    for value in values or []:
        agent, sep, ref = value.partition("=")
        if not sep or not agent or (ref and ":" not in ref):
            raise InputError(f"--variant wants AGENT=FILE.py:ATTR (or AGENT= for the "
                             f"pipeline's own handler), got {value!r}", where="--variant")
        out[agent] = ref
    return out


def _write(args: argparse.Namespace, incident: Any, default_name: str) -> int:
    from harness.sim.evidence import write_incident

    out = Path(args.out) if args.out else Path("incidents") / default_name
    path = write_incident(incident, out)
    data = {**incident.summary(), "incident": str(path)}
    if args.json:
        print_json(data)
    else:
        con = out_console()
        con.print(f"incident: {path} ({data['inputs']} inputs, {data['faults']} pinned faults, "
                  f"recorded verdict {data['expect']})")
        if incident.skipped:
            con.print(f"[yellow]not reproducible (bytes not recorded): "
                      f"{', '.join(incident.skipped[:10])}[/]")
        con.print(f"run it: harness chaos run {path}")
    return 0


def _from_history(args: argparse.Namespace) -> int:
    from harness.sim.evidence import from_history

    incident = from_history(args.history, pipeline=args.pipeline,
                            variants=parse_variants(args.variant))
    return _write(args, incident, f"{Path(args.history).parent.name or 'history'}.yaml")


def _from_dlq(args: argparse.Namespace) -> int:
    from harness.sim.dlq import from_dlq

    err_console().print(f"[bold]incident from-dlq[/] {args.source}")
    incident = from_dlq(args.source, pipeline=args.pipeline, queue=args.queue,
                        variants=parse_variants(args.variant))
    return _write(args, incident, "dlq.yaml")


def _from_otlp(args: argparse.Namespace) -> int:
    from harness.sim.otlp import from_otlp

    incident = from_otlp(args.traces, pipeline=args.pipeline,
                         variants=parse_variants(args.variant))
    return _write(args, incident, f"{Path(args.traces).stem}.yaml")


def _export_otlp(args: argparse.Namespace) -> int:
    from harness.sim.otlp import export_otlp

    out = Path(args.out) if args.out else Path(args.history).with_suffix(".otlp.jsonl")
    stats = export_otlp(args.history, out)
    if args.json:
        print_json(stats)
    else:
        out_console().print(f"{stats['spans']} spans in {stats['traces']} traces -> {out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pipeline", default=None,
                   help="the pipeline file (default: the one the evidence names)")
    p.add_argument("--variant", action="append", metavar="AGENT=FILE.py:ATTR",
                   help="the handler that was live for AGENT (repeatable)")
    p.add_argument("--out", default=None, help="incident file to write")
    add_json_flag(p)


def register(sub: Any) -> None:
    incident = sub.add_parser("incident", help="incident files from recorded evidence")
    isub = incident.add_subparsers(dest="incident_command", metavar="SUBCOMMAND")
    hist = isub.add_parser("from-history", help="from a history.jsonl")
    hist.add_argument("history", help="history.jsonl")
    _common(hist)
    hist.set_defaults(func=_from_history)
    dlq = isub.add_parser("from-dlq", help="from a dead-letter queue (read, not consumed) or a "
                                           "JSON-lines file of its messages")
    dlq.add_argument("source", help="FILE.jsonl, or amqp://... with --queue")
    dlq.add_argument("--queue", default=None, help="the dead-letter queue (amqp sources)")
    _common(dlq)
    dlq.set_defaults(func=_from_dlq)
    otlp = isub.add_parser("from-otlp", help="from OTLP JSON traces (a collector's file "
                                             "exporter, or harness export otlp)")
    otlp.add_argument("traces", help="OTLP JSON file (JSON lines of TracesData)")
    _common(otlp)
    otlp.set_defaults(func=_from_otlp)
    incident.set_defaults(func=lambda a: (incident.print_help(), 2)[1])

    export = sub.add_parser("export", help="export a run")
    esub = export.add_subparsers(dest="export_command", metavar="FORMAT")
    eo = esub.add_parser("otlp", help="a history as OTLP JSON spans (one trace per "
                                      "correlation, one span per handling)")
    eo.add_argument("history", help="history.jsonl")
    eo.add_argument("--out", default=None, help="output file (default HISTORY.otlp.jsonl)")
    add_json_flag(eo)
    eo.set_defaults(func=_export_otlp)
    export.set_defaults(func=lambda a: (export.print_help(), 2)[1])
