"""Benchmark schema compatibility checking (issue 3).

1. Pairs per second through ``harness compat --jsonl`` on the whole Confluent corpus
   (end to end in a subprocess, and in process).
2. A generated registry of 1,000 subjects x 10 versions checked with FULL_TRANSITIVE through
   ``harness registry check`` (subprocess, end to end) and ``check_registry`` (in process).

3. ``--formats N``: N .proto pairs against N JSON Schema pairs of similar size (issue 15).

Prints a table of medians over ``--repeat`` runs. Usage::

    PYTHONPATH=$PWD python benchmarks/bench_compat.py [--repeat 3] [--subjects 1000]
    PYTHONPATH=$PWD python benchmarks/bench_compat.py --formats 200 --fields 12
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cpu import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ("diff-schema-examples.json", "diff-schema-examples-2020-12.json",
          "diff-combined-schema-examples.json", "diff-combined-schema-examples-2020-12.json")


def corpus_lines(shared: Path) -> list[str]:
    """One ``{"old", "new", "mode", "policy"}`` line per corpus record."""
    lines = []
    for name in CORPUS:
        text = (shared / "corpora" / "confluent-json-schema" / name).read_text()
        for record in json.loads(re.sub(r",(\s*[}\]])", r"\1", text)):
            lines.append(json.dumps({"old": record["original_schema"],
                                     "new": record["update_schema"],
                                     "mode": "BACKWARD", "policy": "strict"}))
    return lines


def version_schema(subject: int, version: int) -> dict:
    """Version ``version`` of a subject: an open object that gains one optional field a version."""
    props: dict = {
        "id": {"type": "string", "format": "uuid"},
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "status": {"$ref": "#/definitions/status"},
        "lines": {"type": "array", "items": {"$ref": "#/definitions/line"}},
        "customer": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": ["string", "null"]}}},
    }
    for extra in range(1, version):
        props[f"field_{extra}"] = {"type": "string", "description": f"added in v{extra + 1}"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"subject {subject}", "description": f"version {version}",
        "type": "object", "required": ["id", "amount"], "properties": props,
        "definitions": {
            "status": {"type": "string", "enum": ["new", "paid", "void"]},
            "line": {"type": "object", "required": ["sku"], "properties": {
                "sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}},
        },
    }


def make_registry(root: Path, subjects: int, versions: int) -> None:
    """Write ``subjects`` folders with ``versions`` schemas each (FULL_TRANSITIVE, lenient)."""
    for s in range(subjects):
        folder = root / f"subject.{s:04d}"
        folder.mkdir(parents=True)
        (folder / "subject.yaml").write_text("compatibility: FULL_TRANSITIVE\npolicy: lenient\n")
        for v in range(1, versions + 1):
            (folder / f"v{v}.json").write_text(json.dumps(version_schema(s, v)))


CPU: dict[str, list[float]] = {}


def timed(fn) -> float:
    """Wall seconds of one call; its CPU seconds (with child processes) go to ``CPU``."""
    cpu, start = cpu_seconds(), time.perf_counter()
    fn()
    CPU.setdefault(fn.__name__, []).append(cpu_seconds() - cpu)
    return time.perf_counter() - start


def format_pairs(count: int, fields: int) -> dict[str, list[str]]:
    """``--jsonl`` lines of similar size per format: each pair adds one field (compatible) or,
    every other pair, changes a field's type (incompatible). Names carry the pair number, so
    no compiled schema is reused between pairs."""
    lines: dict[str, list[str]] = {"protobuf": [], "json": []}
    for n in range(count):
        broken = n % 2 == 1
        names = [f"f{n}_{i}" for i in range(fields)]
        proto_old = "\n".join(f"  {'int64' if i % 2 else 'string'} {name} = {i + 1};"
                              for i, name in enumerate(names))
        last = "double" if broken else "string"
        proto_new = proto_old.replace(f"string {names[0]} = 1;", f"{last} {names[0]} = 1;")
        proto_new += f"\n  string extra_{n} = {fields + 1};"
        head = f'syntax = "proto3";\npackage bench{n};\nmessage M{n} {{\n'
        lines["protobuf"].append(json.dumps({"old": head + proto_old + "\n}\n",
                                             "new": head + proto_new + "\n}\n"}))
        props = {name: {"type": "integer" if i % 2 else "string"}
                 for i, name in enumerate(names)}
        new_props = {**props, names[0]: {"type": "number" if broken else "string"},
                     f"extra_{n}": {"type": "string"}}
        old = {"type": "object", "properties": props, "additionalProperties": False}
        new = {"type": "object", "properties": new_props, "additionalProperties": False}
        lines["json"].append(json.dumps({"old": old, "new": new}))
    return lines


def bench_formats(repeat: int, count: int, fields: int) -> None:
    """Pairs per second: .proto pairs against JSON Schema pairs of similar size, in process.
    The two formats alternate within each repeat, so load changes hit both; CPU seconds
    (process time) are printed beside wall seconds because the machine is shared."""
    from harness.commands.compat import run_jsonl

    lines = format_pairs(count, fields)
    ns = argparse.Namespace(mode="BACKWARD", policy="strict", no_witness=False)
    wall: dict[str, list[float]] = {kind: [] for kind in lines}
    cpu: dict[str, list[float]] = {kind: [] for kind in lines}
    for _ in range(repeat):
        for kind, rows in lines.items():
            from harness.contracts.compat import loading, proto_load

            loading._checked.clear()
            proto_load._CACHE.clear()
            out = io.StringIO()
            start, start_cpu = time.perf_counter(), time.process_time()
            run_jsonl(io.StringIO("\n".join(rows) + "\n"), out, ns)
            wall[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - start_cpu)
            bad = [line for line in out.getvalue().splitlines() if "error" in json.loads(line)]
            assert not bad, bad[:1]
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'format':<10} {'pairs':>6} {'fields':>7} {'wall s':>8} {'pairs/s':>8} "
          f"{'x JSON':>7} {'CPU s':>7} {'x JSON':>7}")
    for kind in lines:
        print(f"{kind:<10} {count:>6} {fields:>7} {med[kind]:>8.3f} {count / med[kind]:>8.0f} "
              f"{med[kind] / med['json']:>7.2f} {med_cpu[kind]:>7.3f} "
              f"{med_cpu[kind] / med_cpu['json']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--formats", type=int, default=0, metavar="PAIRS",
                        help="only compare .proto with JSON Schema throughput on PAIRS pairs")
    parser.add_argument("--fields", type=int, default=12, help="fields per schema (--formats)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.formats:
        bench_formats(args.repeat, args.formats, args.fields)
        return
    from harness.commands.compat import run_jsonl
    from harness.contracts.compat import check_registry
    from harness.contracts.registry import SchemaRegistry

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shared = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path(
        os.environ.get("HARNESS_SHARED_DIR", "/work/shared"))
    lines = corpus_lines(shared)
    data = "\n".join(lines) + "\n"
    cli = [sys.executable, "-m", "harness.cli"]

    def jsonl_subprocess() -> None:
        subprocess.run([*cli, "compat", "--jsonl"], input=data, text=True, env=env,
                       stdout=subprocess.DEVNULL, check=False)

    def jsonl_in_process() -> None:
        from harness.contracts.compat import loading

        loading._checked.clear()  # no meta-schema results carried over from the last run
        ns = argparse.Namespace(mode="BACKWARD", policy="strict", no_witness=False)
        run_jsonl(io.StringIO(data), io.StringIO(), ns)

    rows = []
    sub = statistics.median(timed(jsonl_subprocess) for _ in range(args.repeat))
    rows.append(("corpus --jsonl, subprocess (incl. start-up)", len(lines), sub,
                 "jsonl_subprocess"))
    inproc = statistics.median(timed(jsonl_in_process) for _ in range(args.repeat))
    rows.append(("corpus --jsonl, in process", len(lines), inproc, "jsonl_in_process"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "contracts"
        make_registry(root, args.subjects, args.versions)
        pairs = args.subjects * args.versions * (args.versions - 1) // 2

        def registry_subprocess() -> None:
            proc = subprocess.run([*cli, "registry", "check", str(root), "--json"],
                                  env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"registry check failed: {proc.stderr[-500:]}")

        def registry_in_process() -> None:
            verdicts = check_registry(SchemaRegistry(root))
            assert all(v.compatible for v in verdicts)

        reg_sub = statistics.median(timed(registry_subprocess) for _ in range(args.repeat))
        rows.append((f"registry {args.subjects}x{args.versions} FULL_TRANSITIVE, "
                     "harness registry check", pairs, reg_sub, "registry_subprocess"))
        reg_in = statistics.median(timed(registry_in_process) for _ in range(args.repeat))
        rows.append((f"registry {args.subjects}x{args.versions} FULL_TRANSITIVE, "
                     "check_registry in process", pairs, reg_in, "registry_in_process"))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'benchmark':<62} {'pairs':>7} {'median s':>9} {'pairs/s':>9} {'CPU s':>7}")
    for name, count, seconds, key in rows:
        cpu = statistics.median(CPU[key])
        print(f"{name:<62} {count:>7} {seconds:>9.3f} {count / seconds:>9.0f} {cpu:>7.2f}")


if __name__ == "__main__":
    main()
