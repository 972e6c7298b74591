"""The package's import graph has no cycles: the stage folders import each other one way only.

The graph is read from the source with ``ast`` (imports at module level and inside functions
alike, since a lazy import still ties two modules together); imports under
``if TYPE_CHECKING:`` are left out, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "askarchive"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE


def module_names(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package by dotted name (``askarchive.answer.extractive``)."""
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # only the ``else`` branch ever runs
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the package's modules it imports when it runs."""
    modules = module_names(src)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                targets.update(b for b in bases if b in modules)
                continue
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, node.module] if node.module else here)
            else:
                base = node.module or ""
            for alias in node.names:
                # ``from askarchive.answer import markdown`` imports a module, not a name.
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    targets.add(sub)
                elif base in modules:
                    targets.add(base)
        targets.discard(name)
        graph[name] = targets
    return graph


def unit_of(module: str) -> str:
    """The folder a module lives in (``answer`` for ``answer.llm.client``), or the top-level
    module itself (``archive``, ``models``): the pieces that must import each other one way."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(cycles)


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for module, targets in graph.items():
        unit = unit_of(module)
        folders.setdefault(unit, set()).update(unit_of(t) for t in targets)
        folders[unit].discard(unit)
    return folders


def test_graph_reader_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from askarchive.b import B\n"
        "def f():\n    from askarchive.sub import c\n"
    )
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "sub" / "c.py").write_text("from ..b import x\n")
    graph = import_graph(pkg)
    assert graph["askarchive.a"] == {"askarchive.sub.c"}
    assert graph["askarchive.b"] == {"askarchive.a"}
    assert graph["askarchive.sub.c"] == {"askarchive.b"}
    assert find_cycles(graph) == [["askarchive.a", "askarchive.b", "askarchive.sub.c"]]
    assert find_cycles(folder_graph(graph)) == [["a", "b", "sub"]]


def test_no_import_cycle_between_modules() -> None:
    # Inside one folder too: two modules that need each other at run time are one module.
    assert find_cycles(import_graph()) == []


def test_no_import_cycle_between_folders() -> None:
    # The facade, the top-level modules and each stage folder depend on each other one way.
    assert find_cycles(folder_graph(import_graph())) == []
