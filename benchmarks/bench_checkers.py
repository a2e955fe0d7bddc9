"""Checker speed on generated histories, and the cost of recording (issue 6).

    PYTHONPATH=. python benchmarks/bench_checkers.py [--sizes 250000,500000,1000000] [--repeat 3]
        [--inputs 2000] [--checkers causal,exactly_once] [--no-recording] [--per-checker] [--cpu]

Part 0 (issue 17): for each size, the file is read and judged by ALL checkers in one streaming
pass (``run_checkers(open_history(path))``, what ``harness check`` does), on one process and
as harness check runs it (two for a file of 32 MB or more), beside the baseline of a plain
``orjson.loads`` of every line of the same file, medians of --repeat: events/s, the ratios to
the plain parse and to one process, both processes' CPU, and us/event relative to the smallest
size (linearity).

Part 1 generates payments-like histories (per input: ingress, then for each of five hops a
deliver of the hop's input, a publish of its output (carrying the envelope bytes, caused by
that input) and an ack, the ledger's effect inside its delivery, an outcome; plus a snapshot)
of each size, reads them back from a JSON-lines file, and times every checker (median of
--repeat runs). Part 2 runs the payments pipeline on the memory transport with --inputs
inputs, once with the history recorder writing history.jsonl and once with it switched off
(events built and dispatched to listeners, nothing kept or written), medians of --repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from benchmarks.cpu import cpu_seconds  # noqa: E402
from harness import spill  # noqa: E402
from harness.checkers import CHECKERS, run_checkers  # noqa: E402
from harness.contracts.registry import SchemaRegistry  # noqa: E402
from harness.history import Recorder, open_history, read_history  # noqa: E402

#: the checkers' clock: wall time, or this process's CPU time with --cpu (a shared machine)
CLOCK = time.perf_counter

HOPS = [("orchestrator", "payment.accepted"), ("fraud", "payment.risk_assessed"),
        ("authorization", "payment.authorized"), ("ledger", "ledger.posted"),
        ("notification", "notification.sent")]


def _payload(kind: str, i: int) -> dict:
    base = {"payment_id": f"pay-{i:06d}", "amount_cents": 1000 + i % 9000, "currency": "EUR",
            "customer_id": f"cust-{i % 500:04d}", "merchant_id": f"merch-{i % 50:03d}"}
    if kind == "payment.accepted":
        base["card_last4"] = "1234"
    if kind == "payment.risk_assessed":
        base.update(risk_level="low", reasons=[], memo_summary="no memo")
    if kind == "payment.authorized":
        base.update(authorization_code="A1B2C3D4", risk_level="low")
    if kind == "ledger.posted":
        base.update(entries=2, authorization_code="A1B2C3D4")
    if kind == "notification.sent":
        base = {"payment_id": base["payment_id"], "customer_id": base["customer_id"],
                "kind": "receipt", "text": "Paid"}
    return base


def generate(path: Path, n_events: int) -> int:
    """Write a history of about n_events events; returns the number written."""
    idx = 0
    t = 0.0
    with open(path, "w", encoding="utf-8") as fh:
        def w(kind: str, **fields) -> None:
            nonlocal idx, t
            t += 0.0001
            fh.write(json.dumps({"index": idx, "time": round(t, 6), "kind": kind, **fields},
                                separators=(",", ":")) + "\n")
            idx += 1
        w("run_start", pipeline="payments", seed=0, registry=str(ROOT / "contracts"),
          budgets={"fraud": {"p99_ms": 200}, "end_to_end": {"p99_ms": 2000}},
          fallbacks={})
        i = 0
        per_input = 2 + len(HOPS) * 3 + 2
        keys = []
        while idx + per_input + 3 < n_events:
            cid = f"pay-0-{i:07d}"
            mid = f"m{i}-0"
            w("ingress", correlation_id=cid, message_id=mid, valid=True, expect="completed")
            prev, cause = mid, None
            for h, (agent, mtype) in enumerate(HOPS):
                # the agent gets its input, publishes its output (caused by that input) while
                # the delivery is open, applies its effect (ledger), then acks
                m = f"m{i}-{h + 1}"
                env = {"envelope": 1, "message_id": m, "correlation_id": cid,
                       "causation_id": prev, "type": mtype, "schema_version": 1,
                       "idempotency_key": f"k{i}-{h}", "producer": {"agent": agent,
                                                                    "version": "1"},
                       "payload": _payload(mtype, i)}
                body = base64.b64encode(json.dumps(env).encode()).decode()
                got = {"message_id": prev, "correlation_id": cid, "causation_id": cause}
                w("deliver", queue=agent, agent=agent, delivery_count=1, **got)
                if agent == "ledger":
                    key = f"e{i}"
                    keys.append(key)
                    w("effect", agent="ledger", effect="ledger.post", key=key, applied=True,
                      idempotency_key=f"k{i}-{h - 1}", data={"payment_id": f"pay-{i:06d}"},
                      **got)
                w("publish", queue=agent, producer=agent, body=body, message_id=m,
                  correlation_id=cid, causation_id=prev, type=mtype, schema_version=1)
                w("ack", queue=agent, agent=agent, latency_ms=1.0 + (i % 7), **got)
                prev, cause = m, prev
            w("outcome", correlation_id=cid, outcome="completed")
            i += 1
        w("snapshot", ledger={"debits": 0, "credits": 0, "balanced": True},
          effects=[{"key": k, "agent": "ledger", "effect": "ledger.post"} for k in keys])
        w("run_end")
    return idx


def _plain_parse(path: Path) -> int:
    """The baseline: orjson over every line of the file, nothing else."""
    n = 0
    loads = orjson.loads
    with open(path, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n


def bench_stream(sizes: list[int], repeat: int) -> list[dict]:
    """Read + ALL checkers in one streaming pass (what `harness check` does), on one process
    (``HARNESS_CHECK_PROCESSES=1``) and as `harness check` runs it (two processes for a large
    file, harness.checkers.forked), against a plain orjson parse of the same file, medians of
    ``repeat`` (wall time; CPU of both processes)."""
    rows = []
    registry = SchemaRegistry(ROOT / "contracts")
    opts = {"wire": {"registry": registry},
            "exactly_once": {"unique": {"ledger.post": ["payment_id"]}}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"h{size}.jsonl"
            n = generate(path, size)
            times: dict[str, list[float]] = {"parse": [], "one": [], "all": [], "cpu": []}
            verdicts = {}
            for _ in range(repeat):
                t0 = time.perf_counter()
                _plain_parse(path)
                times["parse"].append(time.perf_counter() - t0)
                for key, processes in (("one", "1"), ("all", "")):
                    os.environ["HARNESS_CHECK_PROCESSES"] = processes
                    t0, c0 = time.perf_counter(), cpu_seconds()
                    with spill.checking():  # as check_history (harness check) judges a file
                        verdicts[key] = run_checkers(open_history(path), None, opts)
                    times[key].append(time.perf_counter() - t0)
                    if key == "all":
                        times["cpu"].append(cpu_seconds() - c0)
                os.environ.pop("HARNESS_CHECK_PROCESSES")
                bad = {k: v.valid for k, v in verdicts["all"].items() if v.valid is not True}
                assert not bad, bad
                assert verdicts["one"] == verdicts["all"]
            rows.append({"events": n, **{k: statistics.median(v) for k, v in times.items()}})
            path.unlink()
    return rows


def bench_checkers(sizes: list[int], repeat: int, only: set[str] | None = None) -> list[dict]:
    rows = []
    registry = SchemaRegistry(ROOT / "contracts")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"h{size}.jsonl"
            n = generate(path, size)
            t0 = time.perf_counter()
            history = read_history(path)
            read_s = time.perf_counter() - t0
            row = {"events": n, "read_s": read_s, "checkers": {}}
            for name, fn in CHECKERS.items():
                if only and name not in only:
                    continue
                opts = {"registry": registry} if name == "wire" else {}
                if name == "exactly_once":
                    opts = {"unique": {"ledger.post": ["payment_id"]}}
                times = []
                for _ in range(repeat):
                    t0 = CLOCK()
                    verdict = fn(history, opts)
                    times.append(CLOCK() - t0)
                assert verdict.valid is True, (name, verdict)
                row["checkers"][name] = statistics.median(times)
            row["total_s"] = sum(row["checkers"].values())
            rows.append(row)
            del history
    return rows


async def _pipeline_run(inputs: int, record: bool, tmp: Path) -> float:
    from harness.pipeline import load_pipeline
    from harness.run import PipelineRun
    from harness.workload import payments_workload

    spec = load_pipeline(ROOT / "examples" / "payments" / "pipeline.yaml")
    items = payments_workload(inputs, 1)
    path = tmp / f"history-{record}-{time.monotonic_ns()}.jsonl"
    recorder = Recorder(path) if record else Recorder(None, keep=False)
    run = PipelineRun(spec, broker="memory", store="memory", recorder=recorder, run_dir=tmp)
    async with run:
        t0 = time.perf_counter()
        for item in items:
            if item.envelope is not None:
                await run.send(item.envelope, expect=item.expect)
            else:
                await run.send(item.body, correlation_id=item.correlation_id, valid=False)
        ok = await run.settle(timeout=300)
        elapsed = time.perf_counter() - t0
    recorder.close()
    assert ok
    return inputs / elapsed


def bench_recording(inputs: int, repeat: int) -> dict:
    out: dict = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for mode in ("off", "on"):
                out[mode].append(asyncio.run(_pipeline_run(inputs, mode == "on", Path(tmp))))
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inputs", type=int, default=2000)
    ap.add_argument("--checkers", default="", help="only these (comma-separated)")
    ap.add_argument("--no-recording", action="store_true", help="skip the recording cost")
    ap.add_argument("--per-checker", action="store_true",
                    help="also time each checker alone on an in-memory history")
    ap.add_argument("--cpu", action="store_true",
                    help="time checkers in process CPU seconds (wall time is noisy when shared)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    sizes = [int(s) for s in args.sizes.split(",")]
    only = {c for c in args.checkers.split(",") if c}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; medians of {args.repeat}; "
          f"load {os.getloadavg()[0]:.2f}")
    stream_rows = bench_stream(sizes, args.repeat)
    print("\nread + all checkers (harness check), one process and two, vs plain orjson parse")
    print("(wall seconds; cpu: both processes' CPU seconds; us/ev and vs first: wall, linearity)")
    print(f"{'events':>9} {'parse s':>8} {'1 proc s':>9} {'all s':>7} {'events/s':>9} "
          f"{'x parse':>8} {'x 1 proc':>8} {'cpu s':>7} {'us/ev':>7} {'vs first':>8}")
    first = stream_rows[0]["all"] / stream_rows[0]["events"]
    for r in stream_rows:
        per = r["all"] / r["events"]
        print(f"{r['events']:>9} {r['parse']:>8.2f} {r['one']:>9.2f} {r['all']:>7.2f} "
              f"{r['events'] / r['all']:>9.0f} {r['all'] / r['parse']:>8.2f} "
              f"{r['all'] / r['one']:>8.2f} {r['cpu']:>7.2f} {per * 1e6:>7.2f} "
              f"{per / first:>8.2f}")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if not args.per_checker:
        if not args.no_recording:
            _print_recording(args)
        return
    rows = bench_checkers(sizes, args.repeat, only or None)
    names = [n for n in CHECKERS if not only or n in only]
    print("\nchecker seconds (median) by history size")
    print(f"{'events':>9} {'read':>6} " + " ".join(f"{n[:12]:>12}" for n in names)
          + f" {'all':>7} {'us/event':>8}")
    for r in rows:
        print(f"{r['events']:>9} {r['read_s']:>6.2f} "
              + " ".join(f"{r['checkers'][n]:>12.3f}" for n in names)
              + f" {r['total_s']:>7.2f} {r['total_s'] / r['events'] * 1e6:>8.2f}")
    if not args.no_recording:
        _print_recording(args)


def _print_recording(args: argparse.Namespace) -> None:
    rec = bench_recording(args.inputs, args.repeat)
    print(f"\nrecording cost: payments pipeline, memory transport, {args.inputs} inputs")
    print(f"  recorder off: {rec['off']:.0f} inputs/s; recorder on (history.jsonl): "
          f"{rec['on']:.0f} inputs/s; cost {100 * (1 - rec['on'] / rec['off']):.1f} %")


if __name__ == "__main__":
    main()
