"""The evaluation settings, on the environment's held-out tasks and on math (no Ray, no model).
The policy evaluated, the environment and the output folder are the caller's: arguments of
``run_evaluation`` and ``run_math_evaluation``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from depo_ray.env_setup import EnvConfig, check_task_ids, make_env
from depo_ray.serving.config import ServingConfig
from environments.math.problems import BENCHMARKS


TASK_SETS = {"test": "test_tasks", "large": "large_test_tasks", "validation": "validation_tasks"}
"""``task_set`` -> the TaskEnvironment's field holding its ids."""


@dataclass(frozen=True)
class EvalConfig:
    task_ids: tuple[int, ...] | None = None
    """Held-out task ids; None: the environment's ``task_set``."""
    task_set: Literal["test", "large", "validation"] = "test"
    """With ``task_ids`` null: "test", the environment's test tasks (BabyAI: the paper harness's
    90, comparable with the paper); "large", its larger held-out set (BabyAI: 450 tasks, the
    harness's levels at unseen seeds), for paired comparisons with statistical power; or
    "validation", the held-out tasks settings are chosen on (BabyAI: 90, the harness's levels
    at other unseen seeds)."""
    serving: ServingConfig = field(default_factory=ServingConfig)
    """vLLM replicas that serve the checkpoint."""
    workers: int = 2
    """Evaluator actors (they mostly wait on the replicas)."""
    episodes_per_worker: int = 8
    """Episodes each evaluator plays at once, interleaved on one environment: the replicas
    batch up to workers × episodes_per_worker greedy requests."""
    cpus_per_worker: float = 0.25
    """CPU Ray reserves per evaluator actor."""
    max_new_tokens: int = 96
    """Longest agent turn in tokens."""

    def __post_init__(self):
        check_task_ids(self.task_ids)
        if self.task_set not in TASK_SETS:
            raise ValueError(f"task_set: expected one of {list(TASK_SETS)}, got {self.task_set!r}")
        if min(self.workers, self.episodes_per_worker, self.max_new_tokens) < 1:
            raise ValueError("workers, episodes_per_worker and max_new_tokens must be at least 1")
        if self.cpus_per_worker < 0:
            raise ValueError(f"cpus_per_worker must be non-negative, got {self.cpus_per_worker}")


def evaluation_tasks(config: EvalConfig, env: EnvConfig) -> list[int]:
    """The task ids an evaluation of ``env`` plays: ``task_ids`` when given, else the env's ``task_set``."""
    if config.task_ids is not None:
        return list(config.task_ids)
    task_env = make_env(env)
    tasks = getattr(task_env, TASK_SETS[config.task_set])
    if not tasks:
        raise ValueError(f"evaluate.task_set: {task_env.name} has no {config.task_set!r} task set")
    return list(tasks)


@dataclass(frozen=True)
class MathEvalConfig:
    benchmark: str = "generated"
    """gsm8k, math, simuleq, or generated (arithmetic word problems, linear systems, fractions)."""
    path: str | None = None
    """Local .jsonl / .json / .parquet in the benchmark's own format; None: the hub (gsm8k,
    math; needs `datasets` and a network) or, for generated, the built-in generator."""
    limit: int | None = None
    """Evaluate only the first this many problems."""
    generated_count: int = 60
    """Problems in the generated set."""
    serving: ServingConfig = field(default_factory=ServingConfig)
    """vLLM replicas that serve the checkpoint."""
    workers: int = 2
    """Solver actors."""
    problems_per_worker: int = 16
    """Problems each solver keeps in flight at once: the replicas batch up to
    workers × problems_per_worker greedy requests."""
    cpus_per_worker: float = 0.25
    """CPU Ray reserves per solver actor."""
    max_new_tokens: int = 512
    """Longest solution in tokens."""

    def __post_init__(self):
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark: unknown {self.benchmark!r}; expected one of {list(BENCHMARKS)}")
        for name in ("generated_count", "workers", "problems_per_worker", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 or null, got {self.limit}")
