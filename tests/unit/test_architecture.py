"""The tree shows the architecture, and keeps showing it (DESIGN.md "Layout").

Every module of engine/, cli/, web/ and handlers/ is read with `ast` (nothing is
imported), with every import it makes — at the top, inside functions, under
TYPE_CHECKING. The test fails on:

- an import cycle between modules (function-level imports included);
- a module over `MAX_LINES` lines (when a module passes that, it has two concepts);
- `engine` importing Flask, `web` or `cli` (the direction is cli/web -> engine -> handlers);
- `handlers` importing SQLAlchemy, Flask, `web`, `cli`, or any of `engine` but its
  clock and errors (handlers take plain values and return plain values);
- `web` or `cli` opening a write transaction (`.writing()`): the unit of work is the
  engine's; a route or a command calls an engine function.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "cli", "web", "handlers")
MAX_LINES = 500
# Modules allowed over MAX_LINES for now, each with why; an entry that is no longer
# needed fails the test, so that the list only shrinks.
TOO_LONG_FOR_NOW: dict[str, str] = {}  # path -> why, while a split is under way


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if ".venv" not in path.parts
    }


def _is_package(name: str) -> bool:
    return _modules()[name].name == "__init__.py"


@cache
def _tree(name: str) -> ast.Module:
    path = _modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(name: str) -> set[str]:
    """Every module `name` imports (dotted names, the project's and others'), anywhere.

    A package's `__init__` that Python runs on the way to a submodule is not counted:
    only what the code names (`from engine.audit.replay import SHOWN` names the package,
    `from engine.audit import chains` names the module)."""
    found: set[str] = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name if _is_package(name) else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = ".".join(p for p in (package, node.module) if p)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in _modules() or not _within(base, *PACKAGES):
                    found.add(submodule)  # `from package import module`
                if submodule not in _modules():
                    found.add(base)  # a name defined in `base` itself
    return found


def _project_imports(name: str) -> set[str]:
    """The project's modules `name` imports (itself left out)."""
    modules = _modules()
    return {target for target in _imported(name) if target in modules and target != name}


def _cycles() -> list[list[str]]:
    """The strongly connected components of the import graph with more than one module."""
    graph = {name: sorted(_project_imports(name)) for name in _modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, without recursion
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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

    for name in graph:
        if name not in index:
            visit(name)
    return found


def _where(cycle: list[str]) -> str:
    members = set(cycle)
    edges = [
        f"{name} -> {target}"
        for name in cycle
        for target in sorted(_project_imports(name) & members)
    ]
    return "; ".join(edges)


def _within(target: str, *prefixes: str) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def test_the_modules_are_found():
    names = _modules()
    assert "engine.instances.runtime" in names and "cli.main" in names
    assert "web" in names and "handlers.registry" in names


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles: " + " | ".join(_where(c) for c in cycles)


def test_no_module_over_the_line_limit():
    too_long = {}
    for path in _modules().values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        relative = path.relative_to(ROOT).as_posix()
        if lines > MAX_LINES and relative not in TOO_LONG_FOR_NOW:
            too_long[relative] = lines
        if relative in TOO_LONG_FOR_NOW and lines <= MAX_LINES:
            too_long[relative] = f"{lines}: take it off TOO_LONG_FOR_NOW"
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_engine_imports_neither_flask_nor_web_nor_cli():
    wrong = {
        name: sorted(t for t in _imported(name) if _within(t, "flask", "web", "cli"))
        for name in _modules()
        if _within(name, "engine")
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_handlers_take_plain_values():
    allowed = ("engine.clock", "engine.errors")
    wrong = {
        name: sorted(
            t
            for t in _imported(name)
            if _within(t, "sqlalchemy", "flask", "web", "cli")
            or (_within(t, "engine") and not _within(t, *allowed) and t != "engine")
        )
        for name in _modules()
        if _within(name, "handlers")
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_web_and_cli_open_no_write_transaction():
    opening = {
        f"{_modules()[name].relative_to(ROOT)}:{node.lineno}"
        for name in _modules()
        if _within(name, "web", "cli")
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "writing"
    }
    assert not opening, f"write transactions opened outside the engine: {sorted(opening)}"
