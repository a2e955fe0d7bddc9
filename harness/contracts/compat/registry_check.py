"""The pre-deploy gate: every subject's version chain checked under its declared mode.

Each version is checked as it would have been at publish time: against the version before it
(plain modes) or against every earlier version, newest first, stopping at the first failure
(``*_TRANSITIVE``). NONE checks nothing.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from harness.contracts.compat.check import CompatResult, check_graphs
from harness.contracts.compat.levels import normalise_mode, pair_directions, previous_versions
from harness.contracts.compat.loading import load_graph
from harness.contracts.compat.model import SchemaGraph
from harness.contracts.compat.resolve import file_fetcher

if TYPE_CHECKING:
    from harness.contracts.registry import SchemaRegistry, Subject

__all__ = ["SubjectVerdict", "Violation", "check_chain", "check_registry", "check_subject",
           "check_versions"]


@dataclass(frozen=True)
class Violation:
    """A version that breaks an earlier one.

    Attributes:
        version: the newer version number.
        against: the earlier version it is incompatible with.
        result: the full pair result (changes, renames, witness).
    """

    version: int
    against: int
    result: CompatResult

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "against": self.against, **self.result.to_dict()}


@dataclass(frozen=True)
class SubjectVerdict:
    """The verdict on one subject.

    Attributes:
        subject: the subject name.
        mode: its declared compatibility mode.
        policy: its declared policy.
        versions: its version numbers, ascending.
        violations: every version that breaks an earlier one (empty when compatible).
        pairs_checked: how many (version, earlier version) pairs were compared.
    """

    subject: str
    mode: str
    policy: str
    versions: list[int]
    violations: list[Violation] = field(default_factory=list)
    pairs_checked: int = 0

    @property
    def compatible(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "mode": self.mode, "policy": self.policy,
                "versions": self.versions, "compatible": self.compatible,
                "pairs_checked": self.pairs_checked,
                "violations": [v.to_dict() for v in self.violations]}


def check_chain(graphs: Sequence[SchemaGraph], versions: Sequence[int], mode: str,
                policy: str, *, witness: bool = True) -> tuple[list[Violation], int]:
    """Check each version of a chain against earlier ones, as at publish time.

    Args:
        graphs: the loaded schemas, oldest first.
        versions: their version numbers.
        mode: the compatibility mode (``*_TRANSITIVE`` checks every earlier version).
        policy: "strict" or "lenient".
        witness: search a breaking payload for each violation.

    Returns:
        The violations (at most one per version: the newest earlier version it breaks) and
        the number of pairs compared.
    """
    violations: list[Violation] = []
    pairs = 0
    for newest in range(1, len(graphs)):
        for earlier in previous_versions(mode, newest + 1):
            pairs += 1
            results = pair_directions(graphs[earlier], graphs[newest], mode, policy)
            if all(r.compatible for r in results):
                continue
            detail = check_graphs(graphs[earlier], graphs[newest], mode, policy,
                                  witness=witness)
            violations.append(Violation(versions[newest], versions[earlier], detail))
            break
    return violations, pairs


def check_versions(schemas: Sequence[Any], mode: str = "BACKWARD_TRANSITIVE",
                   policy: str = "strict", *, witness: bool = True) -> list[Violation]:
    """Check a list of schema versions (oldest first, numbered from 1) under a mode.

    Raises:
        SchemaError: a version is not a schema or has an unresolvable ``$ref``.
    """
    mode = normalise_mode(mode)
    graphs = [load_graph(schema, uri=f"file:///harness/versions/v{n}.json", where=f"v{n}")
              for n, schema in enumerate(schemas, start=1)]
    return check_chain(graphs, range(1, len(graphs) + 1), mode, policy, witness=witness)[0]


def check_subject(subject: Subject, *, root: Any = None, witness: bool = True) -> SubjectVerdict:
    """Check one subject's chain under its own mode and policy."""
    chain = subject.chain()
    if subject.policy not in ("strict", "lenient") and chain[0].format != "protobuf":
        from harness.errors import SchemaError

        raise SchemaError(f"policy {subject.policy!r} is buf's Protobuf rule set; this "
                          f"subject is {chain[0].format}", where=str(subject.path / "subject.yaml"))
    if any(sv.format != "json" for sv in chain):
        from pathlib import Path

        from harness.contracts.compat.formats import check_foreign_subject

        return check_foreign_subject(subject, root=Path(root or chain[0].path.parent.parent),
                                     witness=witness)
    fetch = file_fetcher(root)
    graphs = [load_graph(sv.schema, uri=sv.uri, where=str(sv.path), fetch=fetch)
              for sv in chain]
    numbers = [sv.version for sv in chain]
    violations, pairs = check_chain(graphs, numbers, subject.compatibility, subject.policy,
                                    witness=witness)
    return SubjectVerdict(subject.name, subject.compatibility, subject.policy, numbers,
                          violations, pairs)


_SHARED: dict[str, Subject] = {}


def _check_named(name: str, *, root: Any, witness: bool) -> SubjectVerdict:
    """Check a subject inherited from the parent process (fork: no pickling of schemas)."""
    return check_subject(_SHARED[name], root=root, witness=witness)


def check_registry(registry: SchemaRegistry, *, witness: bool = True,
                   workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[SubjectVerdict]:
    """Check every subject of a file registry; one verdict per subject, by name.

    Args:
        registry: the file registry.
        witness: search a breaking payload for each violation.
        workers: processes to use; by default one per CPU for 64 subjects or more.
        progress: called with (subjects checked, subjects) as verdicts arrive.
    """
    subjects = list(registry)
    report = progress or (lambda done, total: None)
    if workers is None:
        workers = (os.cpu_count() or 1) if len(subjects) >= 64 else 1
    if workers <= 1:
        out = []
        for s in subjects:
            out.append(check_subject(s, root=registry.root, witness=witness))
            report(len(out), len(subjects))
        return out
    chunk = max(1, len(subjects) // (workers * 4))
    if "fork" in multiprocessing.get_all_start_methods():
        _SHARED.clear()
        _SHARED.update((s.name, s) for s in subjects)
        try:
            with ProcessPoolExecutor(workers, multiprocessing.get_context("fork")) as pool:
                check = partial(_check_named, root=registry.root, witness=witness)
                return _collect(pool.map(check, [s.name for s in subjects], chunksize=chunk),
                                len(subjects), report)
        finally:
            _SHARED.clear()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        check = partial(check_subject, root=registry.root, witness=witness)
        return _collect(pool.map(check, subjects, chunksize=chunk), len(subjects), report)


def _collect(verdicts: Iterable[SubjectVerdict], total: int,
             report: Callable[[int, int], None]) -> list[SubjectVerdict]:
    out = []
    for verdict in verdicts:
        out.append(verdict)
        report(len(out), total)
    return out
