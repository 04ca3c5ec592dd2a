"""The plan of the house: imports run one way, and the engine never needs Qt.

The import graph is read from the source (runtime imports only: ``if TYPE_CHECKING:`` blocks are
for type checkers and never run). A cycle between two modules, or between two packages (the
subpackages of ``xcal.core``, ``peaks``, ``gui``, ``cli``), fails with the modules that close it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import xcal

SRC = Path(xcal.__file__).parent


def _module(path: Path) -> str:
    parts = ["xcal", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for statement in node.body for n in ast.walk(statement)}
    return [n for n in ast.walk(tree) if id(n) not in skipped and isinstance(n, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    """xcal module -> the xcal modules it imports when it runs."""
    paths = {_module(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for name in names:
                while name and name not in paths:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def unit(module: str) -> str:
    """The package a module belongs to for the layering: a subpackage of core, or peaks, gui, cli."""
    parts = module.split(".")
    if parts[1:2] == ["core"] and len(parts) > 3:
        return ".".join(parts[:3])
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1] in ("peaks", "gui", "cli") else module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        packages.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    assert cycles(packages) == []


def test_peaks_stand_on_the_geometry_primitives_only() -> None:
    """peaks sits between core.geometry and the calibration pipeline, which calls it."""
    allowed = {"xcal.peaks", "xcal.core.geometry", "xcal.core.errors", "xcal.core.progress", "xcal.core.public"}
    used = {unit(t) for m, ts in import_graph().items() if unit(m) == "xcal.peaks" for t in ts}
    assert used <= allowed, used - allowed


def test_the_graph_sees_imports() -> None:
    """The test above cannot pass for want of edges: known imports are in the graph."""
    graph = import_graph()
    assert "xcal.core.calibration.session" in graph["xcal.core.beamtime.sample"]
    assert "xcal.core.geometry.refinement" in graph["xcal.peaks.coordinates"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_and_peaks_never_import_qt() -> None:
    """Statically (any import of a Qt binding or pyqtgraph), and when every module is imported."""
    qt = ("PyQt5", "PyQt6", "PySide2", "PySide6", "pyqtgraph", "qtpy", "silx.gui", "pyFAI.gui")
    offenders = []
    engine = [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] in ("core", "peaks")]
    for path in engine:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{_module(path)}: {n}" for n in names if n.startswith(qt)]
    assert offenders == []
    # at run time, as on a server without the gui extra: no Qt binding can be imported (pyFAI and
    # silx import Qt when it is installed, and do without it when it is not)
    modules = sorted(_module(p) for p in engine)
    code = (f"import importlib, sys\n"
            f"class NoQt:\n"
            f"    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in ('PyQt5', 'PyQt6', 'PySide2', 'PySide6'):\n"
            f"            raise ImportError(f'{{name}}: not installed here')\n"
            f"sys.meta_path.insert(0, NoQt())\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.startswith({qt[:5]!r})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_only_the_application_knows_the_main_window() -> None:
    """Controllers get the widgets they drive and a Shell; none imports the window, even for types."""
    importers = []
    for path in (SRC / "gui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("main_window"):
                importers.append(path.stem)
    assert importers == ["app"]


def test_help_and_version_do_not_import_pyfai() -> None:
    """pyFAI takes a second to import: ``xcal --help``, ``--version`` and a command's ``--help`` never need it."""
    code = ("import sys\nfrom xcal.cli import main\n"
            "for argv in (['--help'], ['--version'], ['calibrate', '--help'], ['integrate', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('IMPORTED', sorted(m for m in ('pyFAI', 'fabio', 'h5py', 'PyQt5') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage: xcal integrate" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "IMPORTED []"
