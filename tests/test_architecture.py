"""The shape of the code (docs/architecture.md): no import cycle among the project's modules,
and dependencies that point one way — views → services → models and low-level pieces,
``workers`` → ``dsar``, never back.

The imports are read from the source (every ``import``, at the top or inside a function), so a
late import does not hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dsar", "workers")

#: The composition roots: the factory builds the app from every part (blueprints included)
#: and the command line starts it. Only they may import a view or the factory.
ENTRY_POINTS = {"dsar", "dsar.cli", "dsar.__main__"}
#: Modules that only parse requests and render (Flask blueprints).
VIEWS = ("dsar.portal", "dsar.staff", "dsar.demo.mailbox", "dsar.api")
#: The low-level pieces and what they may stand on: nothing above them.
LOW_LEVEL = ("dsar.core", "dsar.models", "dsar.extensions", "dsar.config", "dsar.deadlines",
             "dsar.paths")


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "versions" not in path.parts:  # Alembic revisions are loaded by path
                modules[_module_name(path)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules it imports (``from p import m`` counts as importing the
    module ``p.m`` when it is one, else ``p``)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    found.add(child if child in modules else base)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(_project_modules())


def test_the_walker_sees_a_cycle_made_by_a_late_import(tmp_path):
    """The checks below can fail: two modules importing each other, one of them inside a
    function, are a cycle."""
    (tmp_path / "first.py").write_text("from second import helper\n")
    (tmp_path / "second.py").write_text("def helper():\n    from first import thing\n")
    (tmp_path / "third.py").write_text("import first\n")
    modules = {name: tmp_path / f"{name}.py" for name in ("first", "second", "third")}
    graph = import_graph(modules)
    assert graph["third"] == {"first"}
    assert cycles(graph) == [["first", "second"]]


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_dsar_never_imports_workers_the_factory_or_a_view(graph):
    wrong = []
    for module, imported in graph.items():
        if not module.startswith("dsar"):
            continue
        for target in imported:
            if target.startswith("workers"):
                wrong.append(f"{module} imports {target} (workers → dsar only)")
            elif module in ENTRY_POINTS:
                continue
            elif target == "dsar":
                wrong.append(f"{module} imports the app factory")
            elif _within(target, VIEWS) and not _within(module, VIEWS):
                wrong.append(f"{module} imports the view {target}")
    assert wrong == []


def test_views_do_not_import_one_another_across_blueprints(graph):
    wrong = [f"{m} imports {t}" for m, imported in graph.items() if _within(m, VIEWS)
             for t in imported
             if _within(t, VIEWS) and t.split(".")[:2] != m.split(".")[:2]]
    assert wrong == []


def test_low_level_pieces_stand_on_nothing_above_them(graph):
    wrong = [f"{m} imports {t}" for m, imported in graph.items() if _within(m, LOW_LEVEL)
             for t in imported if not _within(t, LOW_LEVEL)]
    assert wrong == []


def test_workers_only_name_dsar_services(graph):
    """Jobs call services: nothing in ``workers`` reaches into a view."""
    wrong = [f"{m} imports {t}" for m, imported in graph.items() if m.startswith("workers")
             for t in imported if _within(t, VIEWS)]
    assert wrong == []
