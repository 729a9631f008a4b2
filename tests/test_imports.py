"""The kiosk package has no import cycle (issue 16: kiosk/bench.py and kiosk/cli.py imported each other),
and the parts of it that the peer's venv imports need the standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "kiosk"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The kiosk modules `path` imports anywhere in it (function-level imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & modules
            found.update(submodules)
            if target in modules and len(submodules) < len(node.names):
                found.add(target)  # names defined in the module (or package) itself
    found.discard(name)
    return found


def import_graph(*packages: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, over the given package folders (default: kiosk)."""
    files = sorted(f for package in (packages or (PACKAGE,)) for f in package.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_imports_that_matter():
    graph = import_graph()
    assert "kiosk.bench.run" in graph["kiosk.cli"]  # a function-level import
    assert "kiosk.pipeline" in graph["kiosk.bench.ours"]  # `from .. import pipeline`
    assert "kiosk.bench.measure" in graph["kiosk.bench"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_in_the_kiosk_package():
    assert find_cycle(import_graph()) is None


def test_no_import_cycle_in_the_tools_or_between_tools_and_kiosk():
    graph = import_graph(PACKAGE, ROOT / "tools")
    assert "kiosk.vision.boxes" in graph["tools.eval.eval_scenes"]  # the tools are in the graph
    assert find_cycle(graph) is None
    assert not [m for m, deps in graph.items() if m.startswith("kiosk") and any(d.startswith("tools") for d in deps)]


def test_the_bench_package_the_peer_imports_needs_the_standard_library_only():
    code = ("import sys, kiosk.bench, kiosk.bench.measure, kiosk.bench.scenarios\n"
            "heavy = ('numpy', 'cv2', 'ai_edge_litert', 'tflite_runtime', 'paho', 'gpiozero')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
