"""No module under tongban/ imports itself back, however indirectly.

The graph is read from the source with `ast`, so it sees every import, also those inside functions
(a cycle hidden in a function is still a cycle: it only moves the failure to the first call).
`from pkg import name` imports `pkg.name` when that is a module, else `pkg`; importing a submodule
also runs its parent packages' `__init__`, except the importer's own packages, which Python has
already started importing before the importer runs. `importlib.import_module` counts too: with a
constant name, that module; with `f"{__name__}.{...}"`, any module directly under the importer.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tongban"


def module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_names(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tongban modules `name` imports by its own statements (before adding parent packages)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                drop = node.level - 1 if is_package(path) else node.level
                base = base[: len(base) - drop]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
        elif isinstance(node, ast.Call) and dynamic_import(node):
            found.update(dynamic_targets(name, node.args[0], modules))
    return {n for n in found if n == PACKAGE or n.startswith(PACKAGE + ".")}


def dynamic_import(call: ast.Call) -> bool:
    f = call.func
    named = (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
        isinstance(f, ast.Name) and f.id in ("import_module", "__import__")
    )
    return named and len(call.args) >= 1


def dynamic_targets(name: str, arg: ast.expr, modules: dict[str, Path]) -> set[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    if (
        isinstance(arg, ast.JoinedStr)
        and len(arg.values) >= 2
        and isinstance(arg.values[0], ast.FormattedValue)
        and isinstance(arg.values[0].value, ast.Name)
        and arg.values[0].value.id == "__name__"
        and isinstance(arg.values[1], ast.Constant)
        and str(arg.values[1].value).startswith(".")
    ):
        return {m for m in modules if m.rpartition(".")[0] == name}
    raise AssertionError(f"{name}: cannot tell what {ast.unparse(arg)} imports; teach tests/test_import_cycles.py")


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own = set(ancestors(name)) | {name}
        edges = set()
        for target in imported_names(name, path, modules):
            if target not in modules:
                continue  # a name that is neither a module nor a package: ignore, Python would fail
            if target != name:
                edges.add(target)  # named outright: even one's own package is a real dependency
            edges.update(parent for parent in ancestors(target) if parent not in own)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Per strongly connected component (Tarjan): a shortest cycle through its first module, as a
    closed path, and all the component's modules (a tangle may hold more than that one cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    found = []
    for component in components:
        start = min(component)
        paths = {start: [start]}  # breadth first, back to start, inside the component
        queue = [start]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(graph[v] & component):
                if w == start:
                    cycle = paths[v] + [start]
                    break
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
        found.append((cycle, sorted(component)))
    return sorted(found)


def test_the_graph_sees_what_it_should():
    graph = import_graph()
    assert "tongban.web.app" in graph
    # relative and absolute imports count, and so do those inside functions
    assert "tongban.web.context" in graph["tongban.web.app"]
    assert "tongban.web.api.routes" in graph["tongban.web.app"]
    # `from . import x` imports the module x, `from .. import name` the package holding name
    assert "tongban.queue.balancer" in graph["tongban.queue.service"]
    assert "tongban" in graph["tongban.web.app"]  # __version__
    # importing a submodule of another package runs that package's __init__
    assert "tongban.printers" in graph["tongban.devices.print_worker"]
    # ...but not one's own package's, which is already being imported
    assert "tongban.web" not in graph["tongban.web.app"]
    # importlib.import_module(f"{__name__}.{...}") may import any module of the package
    assert "tongban.printers.drivers.tcp" in graph["tongban.printers.drivers"]


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert cycles(graph) == [(["a", "b", "a"], ["a", "b", "c"]), (["d", "d"], ["d"])]


def describe(cycle: list[str], component: list[str]) -> str:
    others = sorted(set(component) - set(cycle))
    return " -> ".join(cycle) + (f"  (tangled with {', '.join(others)})" if others else "")


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(describe(*c) for c in found)
