"""Handler line coverage of a run, measured with coverage.py (``chaos run --coverage``).

Only the agents' own source files are measured (coverage.py's ``include``), so the harness
itself is not slowed by more than the tracer's per-file check. The report names, per agent, its
handler's executable lines, how many ran, and which did not; and per source file the same for
the whole module (helpers the handler calls).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = ["HandlerCoverage"]


class HandlerCoverage:
    """Measures the line coverage of a pipeline's in-process agents while it is started."""

    def __init__(self, spec: Any) -> None:
        self.handlers: dict[str, tuple[str, int, int]] = {}  # agent -> (file, first, last)
        for name, agent_spec in spec.agents.items():
            fn = getattr(getattr(agent_spec, "agent", None), "fn", None)
            if fn is None:
                continue
            try:
                lines, first = inspect.getsourcelines(fn)
                path = str(Path(inspect.getsourcefile(fn) or "").resolve())
                tree = ast.parse(textwrap.dedent("".join(lines)))
            except (OSError, TypeError, SyntaxError):
                continue
            node = tree.body[0]
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            # the body only: the decorators and the def line ran at import, before measuring
            self.handlers[name] = (path, first + node.body[0].lineno - 1,
                                   first + len(lines) - 1)
        self._cov: Any = None

    def start(self) -> None:
        try:
            import coverage
        except ImportError as exc:  # pragma: no cover - coverage is a dependency
            raise InputError("--coverage needs coverage.py (pip install coverage)") from exc
        files = sorted({f for f, _, _ in self.handlers.values()})
        self._cov = coverage.Coverage(data_file=None, include=files, config_file=False)
        self._cov.start()

    def stop(self) -> None:
        if self._cov is not None:
            self._cov.stop()

    def report(self) -> dict[str, Any]:
        """{agents: {agent: {file, handler_lines, covered, percent, missing}}, files: {...}}."""
        if self._cov is None:
            return {}
        agents: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for agent, (path, first, last) in sorted(self.handlers.items()):
            _, statements, _, missing, _ = self._cov.analysis2(path)
            gone = set(missing)
            mine = [n for n in statements if first <= n <= last]
            ran = [n for n in mine if n not in gone]
            agents[agent] = {"file": path, "handler_lines": len(mine), "covered": len(ran),
                             "percent": round(100 * len(ran) / len(mine), 1) if mine else None,
                             "missing": [n for n in mine if n in gone]}
            if path not in files:
                files[path] = {"lines": len(statements),
                               "covered": len(statements) - len(gone),
                               "percent": round(100 * (len(statements) - len(gone))
                                                / len(statements), 1) if statements else None}
        return {"agents": agents, "files": files}
