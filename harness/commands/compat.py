"""``harness compat`` (one pair, or many as JSON lines) and ``harness registry check``.

Exit codes: 0 compatible, 1 incompatible, 2 bad input (one line on stderr naming the file and
the place). With ``--jsonl``, a bad line yields an error object for that line and exit 2, but
the other lines are still checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from harness.commands._common import add_json_flag, out_console, print_json
from harness.commands._compat_render import render_registry, render_result
from harness.contracts.compat.check import CompatResult, check_compatibility
from harness.contracts.compat.formats import (
    check_files,
    check_record,
    format_of,
    normalise_record,
)
from harness.contracts.compat.levels import MODES
from harness.contracts.compat.registry_check import check_registry
from harness.contracts.compat.resolve import file_fetcher
from harness.errors import InputError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``compat`` and ``registry`` subcommands."""
    parser = subparsers.add_parser(
        "compat", help="check that a new schema (JSON Schema, .proto, .avsc) can replace an old "
                       "one",
        description="Compare two schemas (JSON Schema, Protobuf .proto or Avro .avsc) with "
                    "Confluent Schema Registry's rules; name renames and show a payload that "
                    "breaks. Exit 0 compatible, 1 not, 2 bad input.")
    parser.add_argument("old", nargs="?", help="the old (registered) schema file")
    parser.add_argument("new", nargs="?", help="the new (proposed) schema file")
    parser.add_argument("--mode", default="BACKWARD", type=str.upper, choices=MODES,
                        help="compatibility level (default BACKWARD)")
    parser.add_argument("--policy", default="strict", type=str.lower,
                        choices=("strict", "lenient", "wire", "wire_json"),
                        help="difference policy (default strict); for .proto also buf's rule "
                             "sets wire and wire_json")
    parser.add_argument("--jsonl", nargs="?", const="-", metavar="FILE",
                        help="read {old, new, mode, policy} objects, one per line, from FILE "
                             "or stdin; write one result per line")
    parser.add_argument("--no-witness", action="store_true",
                        help="do not search a breaking payload")
    add_json_flag(parser)
    parser.set_defaults(func=run_compat)

    registry = subparsers.add_parser("registry", help="schema registry tools")
    sub = registry.add_subparsers(dest="registry_command", metavar="ACTION")
    check = sub.add_parser("check", help="check every subject's version chain (pre-deploy gate)",
                           description="Check every subject's versions under its declared "
                                       "compatibility mode. Exit 1 on any violation.")
    check.add_argument("dir", nargs="?", help="registry folder (default: the bundled contracts/)")
    check.add_argument("--no-witness", action="store_true",
                       help="do not search breaking payloads")
    add_json_flag(check)
    check.set_defaults(func=run_registry_check)
    registry.set_defaults(func=lambda args: _usage(registry))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _load(path_text: str) -> tuple[Any, str]:
    from harness.contracts.registry import load_json_file

    path = Path(path_text)
    if path.is_dir():
        raise InputError("is a folder, not a schema file", where=path_text)
    try:
        return load_json_file(path), path.resolve().as_uri()
    except RecursionError:
        raise InputError("JSON nests too deeply", where=path_text) from None


_RECURSION_LIMIT = 20000


def _deep_enough() -> None:
    """Allow deeply nested schemas (each nesting level takes several frames)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), _RECURSION_LIMIT))


def run_compat(args: argparse.Namespace) -> int:
    """Check one pair of files, or JSON lines."""
    _deep_enough()
    if args.jsonl is not None:
        if args.old or args.new:
            raise InputError("give either OLD NEW or --jsonl, not both", where="compat")
        if args.jsonl == "-":
            return run_jsonl(sys.stdin, sys.stdout, args)
        try:
            with open(args.jsonl, encoding="utf-8") as stream:
                return run_jsonl(stream, sys.stdout, args)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=args.jsonl) from None
    if not args.old or not args.new:
        raise InputError("needs OLD.json and NEW.json (or --jsonl)", where="compat")
    if format_of(args.old) != "json" or format_of(args.new) != "json":
        try:
            result = check_files(args.old, args.new, args.mode, args.policy,
                                 witness=not args.no_witness)
        except ValueError as exc:
            raise InputError(str(exc), where="compat") from None
        return _report(result, args)
    old, old_uri = _load(args.old)
    new, new_uri = _load(args.new)
    try:
        result = check_compatibility(old, new, args.mode, args.policy, old_uri=old_uri,
                                     new_uri=new_uri, fetch=file_fetcher(),
                                     old_where=args.old, new_where=args.new,
                                     witness=not args.no_witness)
    except RecursionError:
        raise InputError("schema nests too deeply to compare",
                         where=f"{args.old} / {args.new}") from None
    except ValueError as exc:
        raise InputError(str(exc), where="compat") from None
    return _report(result, args)


def _report(result: CompatResult, args: argparse.Namespace) -> int:
    if args.json:
        print_json(result.to_dict())
    else:
        render_result(result, out_console(), old_name=args.old, new_name=args.new)
    return 0 if result.compatible else 1


def _count_lines(stream: TextIO) -> int | None:
    """Lines in a seekable file (for the progress bar's total), else None."""
    try:
        if not stream.seekable():
            return None
        start = stream.tell()
        total = sum(1 for _ in stream)
        stream.seek(start)
        return total
    except (OSError, ValueError):
        return None


_FILE_SUFFIXES = (".json", ".avsc", ".proto")


def _with_files(record: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    """Replace ``old``/``new`` that name schema files (``*.json|.avsc|.proto``, relative to the
    JSON-lines file's folder) by their content; inline schemas and .proto text stay as given."""
    record = dict(record)
    for side in ("old", "new"):
        value = record[side]
        if not (isinstance(value, str) and "\n" not in value
                and value.strip().lower().endswith(_FILE_SUFFIXES)):
            continue
        path = Path(value) if Path(value).is_absolute() else base / value
        try:
            if path.suffix.lower() == ".proto":
                record.setdefault("format", "protobuf")
                record[side] = path.read_text(encoding="utf-8")
            else:
                record[side] = _load(str(path))[0]
        except InputError as exc:
            raise InputError(str(exc), where=f"{where}: {side}") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}", where=f"{where}: {side}") \
                from None
    return record


def run_jsonl(stream: TextIO, out: TextIO, args: argparse.Namespace) -> int:
    """Check every line of ``stream``; write one JSON object per line to ``out``.

    ``old`` and ``new`` are schemas inline or paths of schema files (relative to the folder of
    the JSON-lines file, or to the current folder for standard input).
    """
    from harness.report.progress import progress_bar, wanted

    name = getattr(stream, "name", "<stdin>")
    base = Path(name).resolve().parent if name != "<stdin>" else Path.cwd()
    worst = 0
    with progress_bar("compat", total=_count_lines(stream),
                      enabled=wanted(False) and out is not sys.stderr) as bar:
        for number, line in enumerate(stream, start=1):
            bar.update(number)
            if not line.strip():
                continue
            where = f"{name}:{number}"
            try:
                record = _with_files(_jsonl_record(line, where), base, where)
                result = check_record(record, where, args.mode, args.policy,
                                      witness=not args.no_witness)
                payload: dict[str, Any] = {"line": number, **result.to_dict()}
                worst = max(worst, 0 if result.compatible else 1)
            except (InputError, ValueError, KeyError, TypeError) as exc:
                payload = {"line": number, "error": str(exc)}
                worst = 2
            except RecursionError:
                payload = {"line": number, "error": f"{where}: schema nests too deeply"}
                worst = 2
            out.write(json.dumps(payload, default=str) + "\n")
            out.flush()
    return worst


def _jsonl_record(line: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at column {exc.colno}", where=where) from None
    if isinstance(record, dict):
        record = normalise_record(record)
    if not isinstance(record, dict) or "old" not in record or "new" not in record:
        raise InputError('expected an object with "old" and "new"', where=where)
    for key in ("mode", "policy", "format"):
        if key in record and not isinstance(record[key], str):
            raise InputError(f'"{key}" must be a string', where=where)
    return record


def run_registry_check(args: argparse.Namespace) -> int:
    """Check every subject of a registry folder."""
    from harness.contracts.registry import SchemaRegistry
    from harness.report.progress import progress_bar, wanted

    _deep_enough()
    registry = SchemaRegistry(args.dir) if args.dir else SchemaRegistry()
    with progress_bar("registry check", total=None, enabled=wanted(args.json)) as bar:
        verdicts = check_registry(registry, witness=not args.no_witness,
                                  progress=lambda done, total: bar.update(done, total=total))
    ok = all(v.compatible for v in verdicts)
    if args.json:
        print_json({"compatible": ok, "registry": str(registry.root),
                    "subjects": [v.to_dict() for v in verdicts]})
    else:
        render_registry(verdicts, out_console(), root=str(registry.root))
    return 0 if ok else 1
