"""Environments by name, so generation and evaluation pick one from a config.

A ``TaskEnvironment`` bundles what a worker needs to play task i: the gymnasium text env
(with snapshot/restore), the instruction that opens the chat, the reset options and the
seed and details stored with each record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class EnvConfig:
    name: str = "babyai"
    """Registered environment: "babyai" or "webshop"."""
    options: dict = field(default_factory=dict)
    """Keyword arguments of the environment's own config (BabyAI: BabyAIConfig, e.g.
    action_mode, max_turns; WebShop: WebShopConfig, e.g. shop.data_dir, max_turns)."""

    def __post_init__(self):
        if self.name not in ENVIRONMENTS:
            raise ValueError(f"env.name: unknown environment {self.name!r}; registered: {sorted(ENVIRONMENTS)}")
        _options(self.name, self.options)  # typed check of the options at load time


def _options(name: str, options: dict):
    from depo_ray.config import ConfigError, from_dict

    try:
        return from_dict(OPTION_TYPES[name](), options, "env.options")
    except ConfigError as error:
        raise ValueError(str(error)) from None


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


def _babyai(options: dict) -> TaskEnvironment:
    from environments.babyai import HARNESS_TEST_TASKS, BabyAITextEnv, task_level_and_seed
    from environments.babyai.prompt import instruction_for

    config = _options("babyai", options)

    def describe(task_id: int) -> dict:
        level, seed = task_level_and_seed(task_id)
        return {"seed": seed, "provenance": {"level": level, "action_mode": config.action_mode}}

    return TaskEnvironment("babyai", BabyAITextEnv(config), instruction_for(config.action_mode),
                           lambda task_id: {"task_id": task_id}, describe, tuple(sorted(HARNESS_TEST_TASKS)))


def _babyai_options():
    from environments.babyai import BabyAIConfig

    return BabyAIConfig


def _webshop(options: dict) -> TaskEnvironment:
    from environments.webshop.env import TEST_TASKS, WebShopTextEnv
    from environments.webshop.prompt import INSTRUCTION

    config = _options("webshop", options)
    return TaskEnvironment("webshop", WebShopTextEnv(config), INSTRUCTION, lambda task_id: {"task_id": task_id},
                           lambda task_id: {"seed": config.shop.seed, "provenance": {"goal": task_id}}, TEST_TASKS)


def _webshop_options():
    from environments.webshop.env import WebShopConfig

    return WebShopConfig


ENVIRONMENTS: dict[str, Callable[[dict], TaskEnvironment]] = {"babyai": _babyai, "webshop": _webshop}
OPTION_TYPES: dict[str, Callable[[], type]] = {"babyai": _babyai_options, "webshop": _webshop_options}


def check_task_ids(task_ids: tuple[int, ...] | None) -> None:
    """An explicit task list must be non-empty and non-negative (None: the config's default)."""
    if task_ids is not None and (not task_ids or min(task_ids) < 0):
        raise ValueError(f"task_ids: expected a non-empty list of non-negative ids, or null; got {list(task_ids)}")


def select_tasks(task_range: tuple[int, int], task_ids: tuple[int, ...] | None, held_out: tuple[int, ...]) -> list[int]:
    """``task_ids`` if given, else ids in [start, stop); without duplicates or held-out ids."""
    wanted = task_ids if task_ids is not None else range(*task_range)
    excluded = set(held_out)
    return [t for t in dict.fromkeys(wanted) if t not in excluded]


def make_env(config: EnvConfig) -> TaskEnvironment:
    return ENVIRONMENTS[config.name](dict(config.options))
