"""The environments as the pipeline uses them: the typed ``env`` config section, the task
lists configs pick, the experts the tiny-model bootstrap imitates, and the folder options a
job resolves from the project root.

``environments/`` imports nothing from depo_ray; this module checks an ``env`` section
against the environment's own config dataclass (``environments.registry``) and builds it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from depo_ray.config import ConfigError, from_dict, get_dotted, set_dotted
from environments.registry import TaskEnvironment, environment_spec
from environments.webshop.vocabulary import vocabulary_texts as webshop_vocabulary_texts


@dataclass(frozen=True)
class EnvConfig:
    name: str = "babyai"
    """A built-in environment, "babyai" or "webshop", or the import path
    "package.module:NAME" of an ``EnvironmentSpec`` (importable in every process of the job)."""
    options: dict = field(default_factory=dict)
    """Keyword arguments of the environment's own config (BabyAI: BabyAIConfig, e.g.
    action_mode, max_turns; WebShop: WebShopConfig, e.g. shop.data_dir, max_turns)."""

    def __post_init__(self):
        _spec(self.name)  # a bad name or import path fails at load time
        env_options(self)  # typed check of the options at load time


def _spec(name: str):
    try:
        return environment_spec(name)
    except ValueError as error:
        raise ValueError(f"env.name: {error}") from None


def env_options(config: EnvConfig):
    """``config.options`` as the environment's own config dataclass (ValueError naming the key)."""
    try:
        return from_dict(_spec(config.name).config_type(), config.options, "env.options")
    except ConfigError as error:
        raise ValueError(str(error)) from None


def make_env(config: EnvConfig) -> TaskEnvironment:
    return _spec(config.name).build(env_options(config))


def check_task_ids(task_ids: tuple[int, ...] | None) -> None:
    """An explicit task list must be non-empty and non-negative (None: the config's default)."""
    if task_ids is not None and (not task_ids or min(task_ids) < 0):
        raise ValueError(f"task_ids: expected a non-empty list of non-negative ids, or null; got {list(task_ids)}")


def select_tasks(task_range: tuple[int, int], task_ids: tuple[int, ...] | None, held_out: tuple[int, ...]) -> list[int]:
    """``task_ids`` if given, else ids in [start, stop); without duplicates or held-out ids."""
    wanted = task_ids if task_ids is not None else range(*task_range)
    excluded = set(held_out)
    return [t for t in dict.fromkeys(wanted) if t not in excluded]


@dataclass(frozen=True)
class ExpertKit:
    """What the CPU default's tiny-model bootstrap needs from an environment."""

    config_type: Callable[[], type]
    """The expert's config dataclass (its options are checked against it at load)."""
    demonstrator: Callable[[Any, Any, int], Callable[[int], tuple[Any, dict] | None]]
    """(env, expert config, seed) -> play task i: (episode, details for its record), or
    None where the expert cannot solve it."""
    vocabulary_texts: Callable[[Any], list[str]]
    """env -> the texts its pages, instruction and expert write, which the word-level
    tokenizer's vocabulary is read off (``depo_ray.models.tiny.vocabulary_of``)."""
    keep_spacing: bool = False
    """Actions must be decoded character for character (see ``build_tokenizer``)."""


# Each environment's expert loads with its kit, not with this module: configs import it, and the
# simulators (gymnasium, minigrid) are slow to import.
def _babyai_kit() -> ExpertKit:
    from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure
    from environments.babyai.vocabulary import vocabulary_texts

    def demonstrator(env, config, seed: int):
        expert = BabyAIExpert(env, config, seed=seed)

        def play(task_id: int):
            try:
                demo = expert.demonstrate(task_id)
            except ExpertFailure:
                return None
            return demo.episode, {"verbosity": demo.verbosity, "detours": demo.detours,
                                  "primitive_steps": demo.episode.final_info["step_count"]}
        return play

    return ExpertKit(lambda: ExpertConfig, demonstrator, lambda env: vocabulary_texts())


def _webshop_kit() -> ExpertKit:
    from environments.webshop.expert import WebShopExpert, WebShopExpertConfig

    def demonstrator(env, config, seed: int):
        expert = WebShopExpert(env, config, seed=seed)

        def play(task_id: int):
            demo = expert.demonstrate(task_id)
            return demo.episode, {"verbosity": demo.verbosity, "detours": int(demo.detour)}
        return play

    return ExpertKit(lambda: WebShopExpertConfig, demonstrator, webshop_vocabulary_texts, keep_spacing=True)


EXPERTS: dict[str, Callable[[], ExpertKit]] = {"babyai": _babyai_kit, "webshop": _webshop_kit}
"""The built-in environments' experts; an environment named by import path brings its own
(``EnvironmentSpec.expert``)."""


def _expert_factory(name: str) -> Callable[[], ExpertKit] | None:
    return EXPERTS[name] if name in EXPERTS else _spec(name).expert


def has_expert(name: str) -> bool:
    """Whether environment ``name`` has an expert for the tiny-model bootstrap."""
    return _expert_factory(name) is not None


def expert_kit(name: str) -> ExpertKit:
    factory = _expert_factory(name)
    if factory is None:
        raise ValueError(f"env.name: {name!r} has no expert for the tiny-model bootstrap; built-in experts: "
                         f"{sorted(EXPERTS)}, or set its EnvironmentSpec's expert")
    return factory()


def expert_config(name: str, options: dict):
    """The env's expert config from ``options`` (ValueError naming the key)."""
    try:
        return from_dict(expert_kit(name).config_type(), dict(options), "expert")
    except ConfigError as error:
        raise ValueError(str(error)) from None


PATH_OPTIONS: dict[str, tuple[str, ...]] = {"webshop": ("shop.data_dir", "shop.cache_dir")}
"""Options that name folders (dotted into the option sections)."""


def paths_under(config: EnvConfig, root) -> EnvConfig:
    """``config`` with its relative folder options, set or default, taken from ``root``: a
    job's Ray workers may run in another directory than its driver. Checking the result
    checks those folders (ValueError naming the option)."""
    return _rewrite_folders(config, lambda folder, root: None if folder.is_absolute() else root / folder, root)


def paths_within(config: EnvConfig, root) -> EnvConfig:
    """``config`` with its absolute folder options inside ``root`` written relative to it: the
    same folder given either way then reads the same in the stage markers, so it does not
    make a completed stage look stale."""
    def relative(folder, root):
        inside = folder.is_absolute() and folder.resolve().is_relative_to(root.resolve())
        return folder.resolve().relative_to(root.resolve()) if inside else None

    return _rewrite_folders(config, relative, root)


def _rewrite_folders(config: EnvConfig, rewrite, root) -> EnvConfig:
    """``config`` with each folder option (set or default) replaced by ``rewrite(folder,
    root)`` where that is not None."""
    typed, options = env_options(config), copy.deepcopy(dict(config.options))
    for dotted in PATH_OPTIONS.get(config.name, ()):
        value = get_dotted(typed, dotted)
        new = rewrite(Path(value), Path(root)) if value else None
        if new is not None:
            set_dotted(options, dotted, str(new))
    return EnvConfig(config.name, options)
