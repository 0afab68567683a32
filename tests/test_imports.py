"""The house's import graph: no circle between modules, and none between subsystems (a
subsystem is a folder or top-level module of depo_ray), so no import runs back up from a
lower subsystem into one built on it. Function-local imports count: they hide a circle from
Python, not from the reader. And a function-local import is there to defer a heavy runtime,
nothing else."""

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


HEAVY = {
    # the model and cluster runtimes: seconds to import, and a config must load without them
    # (transformers brings tokenizers and huggingface_hub)
    "torch", "transformers", "tokenizers", "huggingface_hub", "peft", "trl", "ray", "vllm",
    # optional: installed by an extra, absent elsewhere
    "mlflow", "openai",
    # slow to import, needed by few: plots, math answers and data set, the environments' simulators
    "matplotlib", "sympy", "datasets", "gymnasium", "minigrid", "bm25s", "spacy",
}
"""Third-party packages worth importing late. The rest (numpy, pyarrow, psutil, yaml, tqdm...)
load with the configs already, or in a blink."""

FUNCTION_LOCAL_ALLOWED: dict[str, str] = {}
"""``"file: import statement"`` of a function-local import the rule below refuses -> why it
stays (none does now)."""


def package_modules() -> dict[str, Path]:
    """Every module of depo_ray and environments -> its file."""
    names = {}
    for package in ("depo_ray", "environments"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads, a ``from`` import's submodules included."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]


def module_level_imports(body: list[ast.stmt]):
    """The import statements that run when the module is imported: not those in functions,
    nor those under ``if TYPE_CHECKING``."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from module_level_imports(node.orelse)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for block in ("body", "orelse", "finalbody"):
                yield from module_level_imports(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from module_level_imports(handler.body)


def function_local_imports(tree: ast.Module):
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    found = {node for function in functions for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))}
    return sorted(found, key=lambda node: node.lineno)


def heavy_runtimes(trees: dict[str, ast.Module]):
    """module name -> the HEAVY packages importing it loads: its own module-level imports,
    those of the modules they load and of its parent packages, transitively."""
    module_level = {module: {name for node in module_level_imports(tree.body) for name in imported_names(node)}
                    for module, tree in trees.items()}
    memo: dict[str, set[str]] = {}

    def loads(module: str) -> set[str]:
        if module not in trees:
            return {module.split(".")[0]} & HEAVY
        if module not in memo:
            memo[module] = set()  # while it is worked out: a package's __init__ may import its submodules
            parts = module.split(".")
            parents = {".".join(parts[:i]) for i in range(1, len(parts))}
            memo[module] = set().union(*(loads(name) for name in module_level[module] | parents))
        return memo[module]
    return loads


def test_every_function_local_import_defers_a_heavy_runtime():
    """A function-local import must buy something: it defers a HEAVY package (a model or
    cluster runtime, an optional client, a slow library) that its module does not already load
    at import, directly or through its own module-level imports. That keeps the modules that
    configs, the jobs' command lines before Ray starts and the planner import light, and lets
    an optional dependency be absent. Any other import (the standard library, a light package,
    a depo_ray or environments module that loads nothing HEAVY) goes at the top of its module,
    where a reader looks for it, unless ``FUNCTION_LOCAL_ALLOWED`` says why not (an import
    circle, say). Checked on depo_ray's files, from their source alone."""
    modules = package_modules()
    trees = {module: ast.parse(path.read_text()) for module, path in modules.items()}
    loads = heavy_runtimes(trees)
    needless = []
    for module, tree in sorted(trees.items()):
        if not module.startswith("depo_ray"):
            continue
        for node in function_local_imports(tree):
            deferred = set().union(*(loads(name) for name in imported_names(node))) - loads(module)
            statement = f"{modules[module].relative_to(ROOT)}: {ast.unparse(node)}"
            if not deferred and statement not in FUNCTION_LOCAL_ALLOWED:
                needless.append(f"{modules[module].relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not needless, "function-local imports that defer nothing heavy:\n" + "\n".join(needless)
