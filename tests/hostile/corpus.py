"""A seeded corpus of hostile inputs for every file the harness reads, each with the CLI call that
reads it and the exit codes it may end with.

Most entries are generated: documents drawn by Hypothesis from each format's own JSON Schema
(harness/schemas/) or taken from the bundled files, then mutated (truncated, a field of the wrong
type, huge and deep values, duplicate keys, invalid UTF-8, YAML tags and aliases, cyclic and remote
$refs, catastrophic regex patterns). The rest are hand-written classics (billion laughs, a
100,000-deep line, a 2 GB sparse history). Same seed, same corpus.
"""

from __future__ import annotations

import base64
import functools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEED = 17
#: a YAML tag that would create this file if the loader ever executed it
CANARY = "/tmp/harness-hostile-canary-executed"


@dataclass
class Case:
    """One hostile input: files to write, the CLI arguments (``{dir}`` is the case's folder), the
    exit codes it may end with and the file its error line must name."""

    name: str
    files: dict[str, bytes] | Callable[[], dict[str, bytes]]
    argv: list[str]
    exits: frozenset[int] = frozenset({2})
    names: str = ""
    big: dict[str, int] = field(default_factory=dict)  # sparse files: name -> size in bytes

    def args(self, folder: Path) -> list[str]:
        return [a.replace("{dir}", str(folder)) for a in self.argv]

    def contents(self) -> dict[str, bytes]:
        """The files (built now: huge mutants are not held for the whole corpus)."""
        return self.files() if callable(self.files) else self.files


# -- mutations (each takes and returns bytes, drawing from rng) -------------------------------
def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, max(2, len(data) - 1))]


def _invalid_utf8(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(0, max(1, len(data)))
    return data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]) \
        + data[at:]


def _deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def _wrong_type(doc: Any, rng: random.Random) -> Any:
    """Replace one value somewhere in ``doc`` with a value of another type."""
    wrongs: list[Any] = [None, True, -1, 1e308, "x", [], {}, [1, [2]], {"a": {"b": None}},
                         "\u0000", 2**70]
    if isinstance(doc, dict) and doc:
        key = rng.choice(sorted(doc, key=str))
        if isinstance(doc[key], (dict, list)) and rng.random() < 0.5:
            doc[key] = _wrong_type(doc[key], rng)
        else:
            doc[key] = rng.choice(wrongs)
    elif isinstance(doc, list) and doc:
        i = rng.randrange(len(doc))
        doc[i] = _wrong_type(doc[i], rng) if rng.random() < 0.5 else rng.choice(wrongs)
    else:
        return rng.choice(wrongs)
    return doc


def _huge(doc: Any, rng: random.Random) -> Any:
    makers: list[Callable[[], Any]] = [
        lambda: "x" * 3_000_000, lambda: 10**400, lambda: [0] * 200_000,
        lambda: {f"k{i}": i for i in range(50_000)}, lambda: json.loads("[" + _deep(150) + "]")]
    value = rng.choice(makers)()
    if isinstance(doc, dict):
        key = rng.choice(sorted(doc, key=str)) if doc and rng.random() < 0.7 else "huge"
        doc[key] = value
        return doc
    return value


def _json_text(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), default=str)


def _duplicate_keys(text: str, rng: random.Random) -> str:
    if text.startswith("{") and len(text) > 2:
        return '{"kind":"note","kind":"run_start",' + text[1:]
    return text


def json_mutants(doc: Any, seed: str) -> list[Callable[[], bytes]]:
    """Byte-level and value-level mutants of a JSON document (or of what a callable returns),
    each built when called, from its own seeded generator."""

    def text() -> str:
        return _json_text(doc() if callable(doc) else doc)

    def rng(i: int) -> random.Random:
        return random.Random(f"{seed}:{i}")

    return [
        lambda: _truncate(text().encode(), rng(0)),
        lambda: _invalid_utf8(text().encode(), rng(1)),
        lambda: _json_text(_wrong_type(json.loads(text()), rng(2))).encode(),
        lambda: _json_text(_huge(json.loads(text()), rng(3))).encode(),
        lambda: _duplicate_keys(text(), rng(4)).encode(),
        lambda: ('{"a":' * 100_000).encode() if rng(5).random() < 0.5
        else _deep(100_000).encode(),
    ]


# -- documents drawn from each format's JSON Schema --------------------------------------------
@functools.cache
def schema_examples(name: str, count: int) -> list[Any]:
    """``count`` documents drawn (derandomized) from harness/schemas/NAME.schema.json."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis_jsonschema import from_schema

    schema = json.loads((ROOT / "harness" / "schemas" / f"{name}.schema.json").read_text())
    out: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(schema))
    def draw(doc: Any) -> None:
        if len(out) < count:
            out.append(doc)

    draw()
    return out


# -- YAML classics -------------------------------------------------------------------------------
def yaml_attacks(base: str) -> Iterator[tuple[str, bytes]]:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
        for i in range(8))
    yield "billion-laughs", (base + "\n" + laughs).encode()
    tag = f"!!python/object/apply:os.system ['touch {CANARY}']"
    yield "python-tag", (base + f"\nx: {tag}\n").encode()
    yield "python-name-tag", (base + "\nx: !!python/name:os.system\n").encode()
    yield "unknown-tag", (base + "\nx: !custom {a: 1}\n").encode()
    yield "cyclic-alias", (base + "\nx: &c [*c]\n").encode()
    yield "cyclic-map", (base + "\nx: &m {self: *m}\n").encode()
    yield "deep-flow", (base + "\nx: " + _deep(50_000) + "\n").encode()
    yield "deep-block", ("".join("  " * i + f"k{i}:\n" for i in range(3000))).encode()
    yield "not-a-mapping", b"- just\n- a\n- list\n"
    yield "scalar", b"42\n"
    yield "empty", b""
    yield "nul-bytes", base.encode()[:40] + b"\x00\x00\x00" + base.encode()[40:]
    yield "invalid-utf8", base.encode()[:30] + b"\xff\xfe" + base.encode()[30:]
    yield "tab-indent", (b"a:\n\tb: 1\n")
    yield "duplicate-keys", (base + "\n" + base).encode()
    yield "huge-string", (base + "\nx: '" + "y" * 3_000_000 + "'\n").encode()
    yield "merge-key-bomb", (base + "\nx: &b {a: 1}\ny: {<<: [*b, *b, *b, *b]}\n").encode()


def _yaml_dump(doc: Any) -> bytes:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


# -- the corpus ----------------------------------------------------------------------------------
def _history_cases(rng: random.Random) -> Iterator[Case]:
    base = [
        {"index": 0, "time": 0.0, "kind": "run_start", "seed": 1, "pipeline": "payments"},
        {"index": 1, "time": 0.01, "kind": "ingress", "correlation_id": "c1", "message_id": "m1",
         "valid": True},
        {"index": 2, "time": 0.02, "kind": "outcome", "correlation_id": "c1",
         "outcome": "completed"},
        {"index": 3, "time": 0.03, "kind": "run_end"},
    ]
    def event(i: int) -> Any:
        return schema_examples("history-event", 40)[i]

    check = ["check", "{dir}/history.jsonl", "--json"]

    def write(lines: list[bytes]) -> dict[str, bytes]:
        return {"history.jsonl": b"\n".join(lines) + b"\n"}

    good = [_json_text(e).encode() for e in base]
    for i in range(40):
        ev = functools.partial(event, i)
        # a schema-valid but foreign event in a whole run: any verdict, never a crash
        yield Case(f"history-drawn-{i}",
                   lambda ev=ev: write([good[0], _json_text(ev()).encode(), *good[1:]]),
                   check, frozenset({0, 1, 2}), "history.jsonl")
        # a mutated line in the middle: the history is corrupt, never valid
        for j, bad in enumerate(json_mutants(ev, f"history-{i}")):
            yield Case(f"history-mutant-{i}-{j}",
                       lambda bad=bad: write([good[0], bad(), *good[1:]]), check,
                       frozenset({1, 2}), "history.jsonl")
    for n in range(10):
        cut = b"\n".join(good)
        yield Case(f"history-cut-{n}", {"history.jsonl": _truncate(cut, rng)}, check,
                   frozenset({1, 2}), "history.jsonl")
    for n, env in enumerate(_envelopes()):
        def publish(env: Callable[[], bytes] = env) -> dict[str, bytes]:
            pub = {"index": 2, "time": 0.02, "kind": "publish", "queue": "fraud",
                   "message_id": "m1", "correlation_id": "c1",
                   "body": base64.b64encode(env()).decode()}
            return write([*good[:2], _json_text(pub).encode(), *good[2:]])

        yield Case(f"history-envelope-{n}", publish,
                   [*check, "--registry", str(ROOT / "contracts")], frozenset({0, 1, 2}),
                   "history.jsonl")
    yield Case("history-deep-100000", write([good[0], b'{"kind":"note","x":' +
                                             _deep(100_000).encode() + b"}", *good[1:]]),
               check, frozenset({2}), "history.jsonl")
    yield Case("history-2GB-sparse", {}, check, frozenset({2}), "history.jsonl",
               big={"history.jsonl": 2 * 1024**3})
    yield Case("history-folder", {"history.jsonl/x": b""}, check, frozenset({2}),
               "history.jsonl")
    yield Case("history-missing", {}, check, frozenset({2}), "history.jsonl")
    yield Case("history-kind-list", write([b'{"index":0,"time":0,"kind":["run_start"]}']),
               check, frozenset({2}), "history.jsonl")
    yield Case("history-nan-time", write([b'{"index":0,"time":NaN,"kind":"run_start"}',
                                          *good[1:]]), check, frozenset({1, 2}),
               "history.jsonl")


def _envelopes() -> Iterator[Callable[[], bytes]]:
    env = {"message_id": "m1", "correlation_id": "c1", "causation_id": None,
           "type": "payment.requested", "schema_version": 1, "producer": "x",
           "producer_version": "1", "idempotency_key": "k", "created_at": "2026-01-01T00:00:00Z",
           "payload": {"payment_id": "p1", "amount_cents": 100}}
    for k in range(3):
        yield from json_mutants(env, f"envelope-{k}")
    yield lambda: b"\x00\x01\x02"
    yield lambda: b'{"message_id": "m1", "message_id": "m2"}'
    yield lambda: ('{"payload":' + "[" * 5000 + "]" * 5000 + "}").encode()


def _yaml_cases(kind: str, sources: list[Path], argv: list[str], fname: str,
                rng: random.Random, per_source: int,
                beside: dict[str, bytes] | None = None) -> Iterator[Case]:
    import yaml

    for s_i, src in enumerate(sources):
        text = src.read_text()
        doc = yaml.safe_load(text)
        mutants: list[bytes] = [_truncate(text.encode(), rng), _invalid_utf8(text.encode(), rng)]
        for _ in range(per_source):
            mutants.append(_yaml_dump(_wrong_type(yaml.safe_load(text), rng)))
        if s_i == 0:
            # JSON is YAML too (and dumps a huge value in milliseconds)
            mutants.append(_json_text(_huge(doc if isinstance(doc, dict) else {}, rng)).encode())
        for m_i, data in enumerate(mutants):
            yield Case(f"{kind}-{src.parent.name}-{src.stem}-mutant-{m_i}",
                       {**(beside or {}), fname: data}, argv, frozenset({2}), fname)
        if s_i == 0:
            for name, data in yaml_attacks(text):
                # an empty subject.yaml means "the defaults" (BACKWARD): a sound registry
                ok = frozenset({0, 2}) if (kind, name) == ("subject", "empty") else frozenset({2})
                yield Case(f"{kind}-{name}", {**(beside or {}), fname: data}, argv, ok, fname)


def _schema_cases(rng: random.Random) -> Iterator[Case]:
    old = (ROOT / "contracts" / "payment.requested" / "v1.json").read_bytes()
    argv = ["compat", "{dir}/old.json", "{dir}/new.json", "--json"]
    doc = json.loads(old)
    classics: dict[str, Any] = {
        "cyclic-ref": {"$ref": "#"},
        "cyclic-defs": {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                        "$ref": "#/$defs/a"},
        "remote-ref": {"type": "object", "properties": {"x": {"$ref":
                                                            "http://127.0.0.1:9/evil.json"}}},
        "file-ref": {"$ref": "file:///etc/passwd"},
        "catastrophic-regex": {"type": "object", "properties": {"x": {
            "type": "string", "pattern": "^(a+)+$"}}},
        "bad-regex": {"type": "string", "pattern": "(unclosed"},
        "not-an-object": [1, 2, 3],
        "type-list-of-junk": {"type": [1, None, {}]},
        "deep-allof": json.loads('{"allOf":[' * 300 + "{}" + "]}" * 300),
    }
    for name, schema in classics.items():
        yield Case(f"schema-{name}", {"old.json": old, "new.json": _json_text(schema).encode()},
                   argv, frozenset({0, 1, 2}), "new.json")
    muts = [m for k in range(8) for m in json_mutants(doc, f"schema-{k}")]
    for i, m in enumerate(muts):
        yield Case(f"schema-mutant-{i}", lambda m=m: {"old.json": old, "new.json": m()}, argv,
                   frozenset({0, 1, 2}), "new.json")
    yield Case("schema-100MB-sparse", {"old.json": old}, argv, frozenset({2}), "new.json",
               big={"new.json": 100 * 1024**2})


def _results_cases(rng: random.Random) -> Iterator[Case]:
    argv = ["replay", "{dir}/run", "--json"]
    def drawn(i: int) -> Any:
        doc = schema_examples("results", 15)[i]
        if isinstance(doc, dict) and "experiment" in doc:
            doc = {**doc, "experiment": {"path": "missing.yaml"}}
        return doc

    for i in range(15):
        doc = functools.partial(drawn, i)
        # a sound results.json names an experiment that is not there: that file is named
        yield Case(f"results-drawn-{i}",
                   lambda doc=doc: {"run/results.json": _json_text(doc()).encode()}, argv,
                   frozenset({2}), "results.json|missing.yaml")
        for j, bad in enumerate(json_mutants(doc, f"results-{i}")[(i % 2)::2]):
            yield Case(f"results-mutant-{i}-{j}", lambda bad=bad: {"run/results.json": bad()},
                       argv, frozenset({2}), "results.json|missing.yaml")


def _pact_cases(rng: random.Random) -> Iterator[Case]:
    src = ROOT / "contracts" / "pacts" / "authorization-fraud.json"
    doc = json.loads(src.read_text())
    argv = ["contracts", "verify", "--provider", "fraud", "--pacts", "{dir}/pact.json", "--json"]
    muts = [m for k in range(4) for m in json_mutants(doc, f"pact-{k}")]
    for i, m in enumerate(muts):
        # a mutant that is still a sound pact may verify (0)
        yield Case(f"pact-mutant-{i}", lambda m=m: {"pact.json": m()}, argv,
                   frozenset({0, 1, 2}), "pact.json")


def build(seed: int = SEED) -> list[Case]:
    """The whole corpus (deterministic for a seed)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    makers: list[Callable[[], Iterator[Case]]] = [
        lambda: _history_cases(rng),
        lambda: _yaml_cases("experiment", sorted((ROOT / "chaos").glob("*.yaml"))[:6],
                            ["chaos", "run", "{dir}/exp.yaml", "--out", "{dir}/out", "--json"],
                            "exp.yaml", rng, 6),
        lambda: _yaml_cases("pipeline", [ROOT / "examples" / "payments" / "pipeline.yaml",
                                         ROOT / "examples" / "rides" / "pipeline.yaml"],
                            ["run", "{dir}/pipeline.yaml", "--transactions", "2", "--json"],
                            "pipeline.yaml", rng, 8),
        lambda: _yaml_cases("subject", [ROOT / "contracts" / "payment.requested" /
                                        "subject.yaml"],
                            ["registry", "check", "{dir}/reg", "--json"],
                            "reg/payment.requested/subject.yaml", rng, 8,
                            {"reg/payment.requested/v1.json":
                             (ROOT / "contracts" / "payment.requested" / "v1.json").read_bytes()}),
        lambda: _schema_cases(rng),
        lambda: _results_cases(rng),
        lambda: _pact_cases(rng),
    ]
    for make in makers:
        cases.extend(make())
    return cases
