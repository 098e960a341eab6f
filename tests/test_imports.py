"""The import graph of ``ferbench``: no module imports itself through others.

Every ``import`` and ``from ... import`` statement counts, wherever it stands (module top,
inside a function, under ``TYPE_CHECKING``): an import moved into a function hides a cycle
from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ferbench

ROOT = Path(ferbench.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``ferbench`` modules a module's import statements name (a ``from X import y`` names
    ``X.y`` when that is a module, else ``X``)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names
                         if f"{source}.{alias.name}" in modules)
    return {module for module in found if module in modules}


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``ferbench`` modules importing it runs.

    Importing ``a.b.c`` also runs the ``__init__`` of packages ``a`` and ``a.b``; a module's own
    enclosing packages are left out, since they are already importing when it runs.
    """
    files = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own = set(_ancestors(name)) | {name}
        edges = set()
        for target in _imported(tree, name, path.name == "__init__.py", modules):
            edges.update(m for m in (*_ancestors(target), target) if m in modules and m not in own)
        graph[name] = edges
    return graph


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of two or more modules that each import all the others, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the alphabetically first module of ``group``."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def test_cycle_finder_reports_a_cycle_with_its_path():
    graph = {"a": {"b"}, "b": {"c", "e"}, "c": {"a", "d"}, "d": set(), "e": {"b"}}
    assert tangles(graph) == [{"a", "b", "c", "e"}]
    assert cycle_in(graph, tangles(graph)[0]) == ["a", "b", "c", "a"]


def test_package_init_counts_as_imported():
    graph = import_graph()
    assert "ferbench.leakage" in graph["ferbench.cli.leakage"]
    assert "ferbench.leakage" not in graph["ferbench.leakage.duplicates"]


def test_ferbench_has_no_import_cycle():
    graph = import_graph()
    found = [f"{' -> '.join(cycle_in(graph, group))} (tangle: {', '.join(sorted(group))})"
             for group in tangles(graph)]
    assert not found, "import cycles in ferbench/:\n" + "\n".join(found)


def test_the_near_duplicate_search_runs_without_torch():
    """The search settings (read by the CLI, stored with runs) load, and a search runs, without
    torch (a second of start-up for ``ferbench leakage``). The package's own ``__init__`` is
    bypassed: it loads the training engine."""
    code = (
        "import sys, types\n"
        "import numpy as np\n"
        f"package = types.ModuleType('ferbench'); package.__path__ = [{str(ROOT)!r}]\n"
        "sys.modules['ferbench'] = package\n"
        "import ferbench.similarity\n"
        "ferbench.similarity.DuplicateSearch().to_dict()\n"
        "images = np.random.default_rng(0).integers(0, 256, (40, 48, 48, 1), dtype=np.uint8)\n"
        "ferbench.similarity.copy_pairs(np.concatenate([images, images[:3, :, ::-1]]), ferbench.similarity.DuplicateSearch())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:5])\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_the_leakage_command_starts_without_torch_pandas_or_sklearn():
    """``ferbench leakage`` parses its options and loads every plugin without importing torch,
    pandas or scikit-learn (seconds of start-up): the folds import scikit-learn, the search what
    it computes with, the metrics sklearn when they score."""
    code = (
        "import sys\n"
        "from ferbench.cli import build_parser\n"
        "from ferbench.registry import get_registry\n"
        "build_parser().parse_args(['leakage', '--dataset', 'synthetic'])\n"
        "registry = get_registry(); registry.get('dataset', 'ferplus'); registry.select('metric', 'all')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas', 'sklearn'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
