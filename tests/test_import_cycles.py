"""Imports point one way, counting every import: inside functions and under TYPE_CHECKING too.

import-linter (`.importlinter`, run by `make lint`) holds the layers; this reads the source
itself, so that an import hidden in a function, which hides a loop rather than removes it, still
counts. A loop is reported with the imports that make it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.import_graph import RUNNER, import_graph


def package_of(module: str, root: Path = RUNNER) -> str:
    """runner.plan.axes -> runner.plan; a top-level module (runner.fileio) is its own package."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (root / parts[1]).is_dir()):
        return ".".join(parts[:2])
    return module


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for importer, imported in graph.items():
        for target in imported:
            if package_of(importer) != package_of(target):
                packages[package_of(importer)].add(package_of(target))
    return packages


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _explain(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    members = set(component)
    return [f"{a} -> {b}" for a in component for b in sorted(graph.get(a, set()) & members)]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """runner's import graph, read in a child process: CPython 3.11's ast.parse can fail with
    "AST constructor recursion depth mismatch" in a worker where earlier tests recursed deeply."""
    code = (
        "import json; from tests.import_graph import import_graph; "
        "print(json.dumps({k: sorted(v) for k, v in import_graph().items()}))"
    )
    root = RUNNER.parent
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    return {module: set(targets) for module, targets in json.loads(found.stdout).items()}


def test_no_module_imports_itself_round_a_loop(graph):
    found = loops(graph)
    assert found == [], [_explain(component, graph) for component in found]


def test_no_package_imports_itself_round_a_loop(graph):
    packages = package_graph(graph)
    found = loops(packages)
    details = [
        (
            a,
            b,
            sorted(
                (x, y) for x in graph for y in graph[x] if (package_of(x), package_of(y)) == (a, b)
            ),
        )
        for component in found
        for a in component
        for b in sorted(packages[a] & set(component))
    ]
    assert found == [], details


def test_an_import_inside_a_function_counts(tmp_path):
    """It sees the imports it exists to see: in a function, under TYPE_CHECKING, relative."""
    package = tmp_path / "runner"
    (package / "stage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage" / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from runner.stage import high\n")
    (package / "stage" / "high.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..low import f\n"
    )
    (package / "stage" / "side.py").write_text("from . import high\n")
    graph = import_graph(package)
    assert loops(graph) == [["runner.low", "runner.stage.high"]]
    assert graph["runner.stage.side"] == {"runner.stage.high"}
    assert loops({"a": {"b"}, "b": {"c"}, "c": set()}) == []
