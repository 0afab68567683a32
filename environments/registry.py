"""Environments by name: each one's own config dataclass and how a TaskEnvironment is built
from an instance of it.

A ``TaskEnvironment`` bundles what a worker needs to play task i: the gymnasium text env
(with snapshot/restore), the instruction that opens the chat, the reset options and the
seed and details stored with each record. Registering an environment imports none of it:
its package is loaded when its config type or environment is first asked for.

An environment that is not built in is named by an import path, "package.module:NAME", of
an ``EnvironmentSpec`` (``environment_spec``): the name alone says where its code is, so
every process that rebuilds the environment from its config (MCTS workers, evaluators)
finds it by importing that module, with no registration step to repeat there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class TaskEnvironment:
    name: str
    env: Any
    instruction: str
    reset_options: Callable[[int], dict]
    describe: Callable[[int], dict]
    """task id -> {"seed": ..., "provenance": {...}} for its records."""
    test_tasks: tuple[int, ...] = ()
    """The default held-out task ids (never used for training data)."""
    large_test_tasks: tuple[int, ...] = ()
    """A larger held-out set, disjoint from ``test_tasks`` and from every training range, for
    comparisons that need statistical power; empty where the environment has none."""
    validation_tasks: tuple[int, ...] = ()
    """Held-out tasks for choosing settings, disjoint from both test sets; empty where the
    environment has none."""

    @property
    def held_out(self) -> tuple[int, ...]:
        """Every task id that training must never see."""
        return self.test_tasks + self.large_test_tasks + self.validation_tasks


@dataclass(frozen=True)
class EnvironmentSpec:
    config_type: Callable[[], type]
    """The environment's own config dataclass (BabyAIConfig, WebShopConfig)."""
    build: Callable[[Any], TaskEnvironment]
    """An instance of ``config_type()`` -> the TaskEnvironment."""
    expert: Callable[[], Any] | None = None
    """For an environment named by import path: () -> the expert the tiny-model bootstrap
    imitates (the pipeline's ``ExpertKit``, in its env_setup module); None: it has none. The
    built-in environments' experts are listed beside that class (``EXPERTS``), since this
    package imports nothing from the pipeline."""


def _babyai_config() -> type:
    from environments.babyai import BabyAIConfig

    return BabyAIConfig


def _babyai(config) -> TaskEnvironment:
    from environments.babyai import HARNESS_TEST_TASKS, LARGE_TEST_TASKS, VALIDATION_TASKS, BabyAITextEnv, task_level_and_seed
    from environments.babyai.prompt import instruction_for

    def describe(task_id: int) -> dict:
        level, seed = task_level_and_seed(task_id)
        return {"seed": seed, "provenance": {"level": level, "action_mode": config.action_mode}}

    return TaskEnvironment("babyai", BabyAITextEnv(config), instruction_for(config.action_mode),
                           lambda task_id: {"task_id": task_id}, describe, tuple(sorted(HARNESS_TEST_TASKS)), LARGE_TEST_TASKS,
                           VALIDATION_TASKS)


def _webshop_config() -> type:
    from environments.webshop.env import WebShopConfig

    return WebShopConfig


def _webshop(config) -> TaskEnvironment:
    from environments.webshop.env import TEST_TASKS, WebShopTextEnv
    from environments.webshop.prompt import INSTRUCTION

    return TaskEnvironment("webshop", WebShopTextEnv(config), INSTRUCTION, lambda task_id: {"task_id": task_id},
                           lambda task_id: {"seed": config.shop.seed, "provenance": {"goal": task_id}}, TEST_TASKS)


ENVIRONMENTS: dict[str, EnvironmentSpec] = {
    "babyai": EnvironmentSpec(_babyai_config, _babyai),
    "webshop": EnvironmentSpec(_webshop_config, _webshop),
}


def environment_spec(name: str) -> EnvironmentSpec:
    """The spec ``name`` names: a built-in environment, or "package.module:NAME" of an
    ``EnvironmentSpec`` (the module is imported). ValueError in one line saying what is wrong."""
    if name in ENVIRONMENTS:
        return ENVIRONMENTS[name]
    module_name, colon, attribute = name.partition(":")
    if not colon:
        raise ValueError(f"unknown environment {name!r}; built in: {sorted(ENVIRONMENTS)}, "
                         "or an import path 'package.module:NAME' of an EnvironmentSpec")
    if not module_name or not attribute.isidentifier():
        raise ValueError(f"{name!r}: expected an import path 'package.module:NAME' of an EnvironmentSpec")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{name!r}: cannot import module {module_name!r} ({error})") from None
    where = getattr(module, "__file__", None) or module_name
    if not hasattr(module, attribute):
        raise ValueError(f"{name!r}: module {module_name} ({where}) has no {attribute!r}")
    spec = getattr(module, attribute)
    if not isinstance(spec, EnvironmentSpec):
        raise ValueError(f"{name!r}: {attribute} in {where} is a {type(spec).__name__}, not an EnvironmentSpec")
    return spec
