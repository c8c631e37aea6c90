"""The package's shape: the runtime stands on messages, the call cache, settings, tools and agents
alone; modules import each other without cycles; and no module grows past about 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "agentlab"
# what the runtime is built on; everything else (graphs, routing, environments, tasks' loaders,
# experiments, views) is built on the runtime
BASE = ("agentlab.message", "agentlab.cache", "agentlab.settings", "agentlab.tools", "agentlab.agent",
        "agentlab.registry", "agentlab.shapes", "agentlab._paths", "agentlab.sandbox",
        "agentlab.models", "agentlab._hub", "agentlab.runtime")  # fmt: skip
LONGEST = 480  # lines: "about 450"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _imports(name: str, *, lazy: bool) -> set[str]:
    """The modules ``name`` imports (its function bodies' too when ``lazy``), and each package
    whose ``__init__`` such an import runs; never what only type checkers read."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agentlab"):
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith("agentlab")]
        else:
            targets = []
        for target in targets:
            module = _resolve(target)
            while module and module != "agentlab":
                if not (name == module or name.startswith(module + ".")):
                    found.add(module)
                module = module.rpartition(".")[0]
        for child in ast.iter_child_nodes(node):
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            if top or lazy:
                visit(child, top and not inner)

    visit(tree, True)
    return found


def test_the_runtime_stands_on_the_base_alone():
    """Whatever importing the runtime runs (and whatever it imports later, inside functions) is
    the base: never graphs, routing, environments, tasks' loaders, experiments or views."""
    seen, todo = set(), [m for m in MODULES if m.startswith("agentlab.runtime")]
    outside = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for target in _imports(name, lazy=name.startswith("agentlab.runtime")):
            if not target.startswith(BASE):
                outside.setdefault(target, name)
            todo.append(target)
    assert not outside, f"the runtime reaches {outside} (module: the importer that reached it)"


def test_no_modules_import_each_other_in_a_cycle():
    edges = {name: _imports(name, lazy=False) for name in MODULES if name != "agentlab"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in edges:
        if name not in index:
            strong(name)
    assert not cycles, cycles


def test_no_module_is_much_longer_than_450_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > LONGEST}
    assert not long, f"split these by concept: {long}"
