"""Paired differences between two evaluated policies outside a pipeline run (a zero-shot
model against a trained checkpoint, say): the task metrics of ``paired_bootstrap`` plus
tokens per turn and the invalid-action rate (pooled over tasks, as the evaluation summary
has them), and per-problem math accuracy and
tokens, each B − A with its 95% interval. Items are matched by task (problem) id."""

from __future__ import annotations

from typing import Mapping

from depo_ray.evaluate.metrics import TaskResult
from depo_ray.evaluate.stats import PairedDifference, paired_bootstrap, paired_mean_difference, paired_ratio_difference


def _matched(a: list, b: list, key, what: str) -> tuple[list, list]:
    a, b = sorted(a, key=key), sorted(b, key=key)
    if [key(x) for x in a] != [key(x) for x in b]:
        raise ValueError(f"the two {what} sets differ: {len(a)} and {len(b)} items, not the same ids")
    if not a:
        raise ValueError(f"no {what} to compare")
    return a, b


def task_differences(a: Mapping[int, list[TaskResult]], b: Mapping[int, list[TaskResult]],
                     resamples: int = 2000) -> list[PairedDifference]:
    """B − A on task metrics; ``a`` and ``b`` map each seed to its task results (one seed for
    a single evaluation), paired over the same seeds and tasks."""
    if set(a) != set(b):
        raise ValueError(f"the two task sets differ: seeds {sorted(a)} and {sorted(b)}")
    seeds = sorted(a)
    matched = {seed: _matched(a[seed], b[seed], lambda r: r.task_id, "task") for seed in seeds}
    a, b = {seed: m[0] for seed, m in matched.items()}, {seed: m[1] for seed, m in matched.items()}
    paired = paired_bootstrap(a, b, resamples=resamples).differences
    table = lambda side, field: [[getattr(r, field) for r in side[seed]] for seed in seeds]  # noqa: E731
    # all tokens (invalid actions) over all turns, as the evaluation summary has them
    return [paired["succ"], paired["t_all"], paired["s_all"]] + [
        paired_ratio_difference(table(a, field), table(a, "turns"), table(b, field), table(b, "turns"),
                                name, False, resamples)
        for name, field in (("tokens_per_turn", "generated_tokens"), ("invalid_action_rate", "invalid_actions"))]


def math_differences(a: Mapping[int, list[dict]], b: Mapping[int, list[dict]],
                     resamples: int = 2000) -> list[PairedDifference]:
    """B − A on math accuracy and tokens per problem; ``a`` and ``b`` map each seed to the rows
    of its problems.parquet (id, correct, generated_tokens), paired over the same seeds and
    problems."""
    if set(a) != set(b):
        raise ValueError(f"the two math problem sets differ: seeds {sorted(a)} and {sorted(b)}")
    seeds = sorted(a)
    matched = [_matched(a[seed], b[seed], lambda r: r["id"], "math problem") for seed in seeds]
    table = lambda side, column: [[float(r[column]) for r in pair[side]] for pair in matched]  # noqa: E731
    return [paired_mean_difference(table(0, column), table(1, column), name, higher, resamples)
            for name, column, higher in (("math_accuracy", "correct", True), ("math_tokens", "generated_tokens", False))]


def describe(difference: PairedDifference) -> str:
    if difference.estimate is None or difference.low is None:
        return f"{difference.metric}: undefined"
    return (f"{difference.metric}: {difference.estimate:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}] "
            f"{difference.verdict}")
