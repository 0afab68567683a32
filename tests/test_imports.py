"""The house's import graph: no circle between modules, and none between subsystems (a
subsystem is a folder or top-level module of depo_ray), so no import runs back up from a
lower subsystem into one built on it. Function-local imports count: they hide a circle from
Python, not from the reader."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_imports() -> dict[str, set[str]]:
    """Every depo_ray module -> the depo_ray modules it imports, anywhere in its file."""
    names = {}
    for path in (ROOT / "depo_ray").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[module] = {m for m in found if m in names and m != module}
    return graph


def subsystem(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_and_none_where_there_is_none():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_itself_back_through_others():
    assert a_cycle(module_imports()) is None


def test_no_subsystem_imports_one_built_on_it():
    subsystems: dict[str, set[str]] = {}
    for module, imported in module_imports().items():
        subsystems.setdefault(subsystem(module), set()).update(
            subsystem(m) for m in imported if subsystem(m) != subsystem(module))
    assert a_cycle(subsystems) is None
