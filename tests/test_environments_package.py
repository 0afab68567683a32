"""environments/ is a leaf package: it builds and describes environments without depo_ray."""

import ast
from pathlib import Path

from environments.registry import ENVIRONMENTS

PACKAGE = Path(__file__).resolve().parents[1] / "environments"


def _absolute_imports(tree: ast.AST):
    """Every module an ``import`` or ``from ... import`` names, at any depth (imports inside
    functions too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.lineno, [node.module]


def test_environments_import_nothing_from_depo_ray():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the walk found the package
    offending = [f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
                 for path in sources
                 for line, modules in _absolute_imports(ast.parse(path.read_text(encoding="utf-8"), str(path)))
                 for module in modules if module == "depo_ray" or module.startswith("depo_ray.")]
    assert not offending, offending


def test_the_registry_builds_an_environment_from_its_own_config():
    spec = ENVIRONMENTS["babyai"]
    task_env = spec.build(spec.config_type()(max_turns=4))
    assert task_env.name == "babyai" and task_env.env.config.max_turns == 4 and 1840 in task_env.test_tasks
    assert task_env.describe(41)["provenance"]["level"] == "BabyAI-GoToRedBall-v0"
    assert ENVIRONMENTS["webshop"].config_type().__name__ == "WebShopConfig"
