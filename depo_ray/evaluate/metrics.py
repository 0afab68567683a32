"""The evaluation metrics of docs/design.md, from one row per played task.

Succ            share of tasks solved
Reward          mean final reward
T@All, T@Succ   mean generated tokens per task, over all / over solved tasks
S@All, S@Succ   mean agent turns per task, over all / over solved tasks
tokens_per_turn generated tokens over all turns / all turns
invalid_action_rate  invalid actions / all turns
seconds_per_task     wall time per task, split into model time and environment time
(the rest of a task's wall time: stepping the environment and bookkeeping)

Over solved tasks, a run with no success has no value: None, never 0.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


SOLVED_COLUMNS = ("id", "predicted", "correct", "generated_tokens")
"""The columns of a math run's problems.parquet (depo_ray.evaluate.math) that its summary and
the comparisons read."""


@dataclass(frozen=True)
class TaskResult:
    task_id: int
    success: bool
    reward: float
    turns: int
    """Agent turns (S)."""
    generated_tokens: int
    """Assistant tokens over the whole task (T), counted by depo_ray.tokens."""
    invalid_actions: int
    """Turns whose action the environment could not carry out."""
    model_seconds: float
    """Wall time waiting for the policy."""
    seconds: float
    """Wall time of the whole task."""

    @property
    def env_seconds(self) -> float:
        return max(0.0, self.seconds - self.model_seconds)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(results: list[TaskResult]) -> dict:
    if not results:
        raise ValueError("no task results to summarize")
    solved = [r for r in results if r.success]
    turns = sum(r.turns for r in results)
    return {
        "tasks": len(results),
        "succ": len(solved) / len(results),
        "reward": _mean([r.reward for r in results]),
        "t_all": _mean([r.generated_tokens for r in results]),
        "t_succ": _mean([r.generated_tokens for r in solved]),
        "s_all": _mean([r.turns for r in results]),
        "s_succ": _mean([r.turns for r in solved]),
        "tokens_per_turn": sum(r.generated_tokens for r in results) / turns if turns else None,
        "invalid_action_rate": sum(r.invalid_actions for r in results) / turns if turns else None,
        "seconds_per_task": _mean([r.seconds for r in results]),
        "model_seconds_per_task": _mean([r.model_seconds for r in results]),
        "env_seconds_per_task": _mean([r.env_seconds for r in results]),
    }


def median_summary(summaries: list[dict]) -> dict:
    """Per metric, the median over runs (seeds) of the values that exist; None if none does."""
    if not summaries:
        raise ValueError("no summaries to take the median of")
    keys = [k for k, v in summaries[0].items() if v is None or isinstance(v, (int, float))]
    medians = {}
    for key in keys:
        values = [s[key] for s in summaries if s.get(key) is not None]
        medians[key] = statistics.median(values) if values else None
    return medians


def relative_change(new: float | None, base: float | None) -> float | None:
    """(new − base) / |base|; None when either is missing or the base is 0."""
    if new is None or base is None or base == 0:
        return None
    return (new - base) / abs(base)
