"""Paired differences between two methods evaluated on the same tasks and seeds, with a 95%
confidence interval from a paired bootstrap (pure numpy, no Ray).

Both methods' outcomes form a seeds × tasks table (greedy evaluation: one outcome per training
seed and held-out task). A difference is method B's metric minus method A's, each metric
computed over every (seed, task) cell: Succ, T@All and S@All as means over the cells, T@Succ
and S@Succ as means over each method's own solved cells. The point estimate uses the table as
it is (so it is the pooled mean over seeds, not the report's median over seeds).

The bootstrap scheme: each resample draws seeds with replacement, then tasks with replacement,
and keeps every (drawn seed, drawn task) cell, counted as often as it was drawn. Seeds and tasks
are crossed, not nested (every seed plays the same tasks), so one draw of tasks serves every
drawn seed, and both methods see the same drawn seeds and tasks: the pairing cancels what a
task's difficulty or a seed's π_BC does to both methods alike. With one seed only tasks vary.
The interval is the percentile interval of the resampled differences. A resample in which a
method solved nothing has no T@Succ / S@Succ: it is skipped and counted in ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np

from depo_ray.evaluate.metrics import TaskResult

Verdict = Literal["better", "worse", "within noise", "undefined"]


@dataclass(frozen=True)
class Metric:
    key: str
    """Key in ``depo_ray.evaluate.metrics.summarize``."""
    column: int
    """Which outcome it averages: 0 success, 1 generated tokens, 2 turns."""
    over_solved: bool
    """Averaged over the solved tasks only (@Succ) instead of all tasks (@All)."""
    higher_is_better: bool


METRICS = (Metric("succ", 0, False, True), Metric("t_all", 1, False, False), Metric("s_all", 2, False, False),
           Metric("t_succ", 1, True, False), Metric("s_succ", 2, True, False))
"""The compared metrics: success up; tokens and turns per task down."""


@dataclass(frozen=True)
class PairedDifference:
    """B − A for one metric."""

    metric: str
    """Key of the metric in ``depo_ray.evaluate.metrics.summarize`` (succ, t_all, ...)."""
    estimate: float | None
    """B − A on the evaluated table; None when a method solved nothing (T@Succ, S@Succ)."""
    low: float | None
    """Lower end of the confidence interval; None when no resample had a value."""
    high: float | None
    """Upper end of the confidence interval."""
    verdict: Verdict
    """B against A: better or worse when the interval excludes 0 (in the metric's direction),
    within noise when it holds 0, undefined when there is no estimate or no interval."""
    skipped: int
    """Resamples left out because one method solved none of their tasks."""


@dataclass(frozen=True)
class PairedComparison:
    """Method B against method A on the same seeds and tasks."""

    baseline: str
    """Method A (subtracted)."""
    method: str
    """Method B."""
    seeds: tuple[int, ...]
    tasks: int
    """Held-out tasks per seed."""
    resamples: int
    confidence: float
    differences: dict[str, PairedDifference]
    """Per metric key of METRICS."""


def _table(outcomes: Mapping[int, Sequence[TaskResult]], seeds: list[int]) -> tuple[list[int], np.ndarray]:
    """Task ids and a (seeds, tasks, 3) array of success, generated tokens and turns."""
    rows, task_ids = [], None
    for seed in seeds:
        by_task = sorted(outcomes[seed], key=lambda r: r.task_id)
        ids = [r.task_id for r in by_task]
        if len(set(ids)) != len(ids):
            raise ValueError(f"seed {seed}: a task appears twice")
        if task_ids is not None and ids != task_ids:
            raise ValueError(f"seed {seed} played other tasks than seed {seeds[0]}")
        task_ids = ids
        rows.append([(float(r.success), float(r.generated_tokens), float(r.turns)) for r in by_task])
    if not task_ids:
        raise ValueError("no task results to compare")
    return task_ids, np.asarray(rows)


def _verdict(low: float | None, high: float | None, higher_is_better: bool) -> Verdict:
    if low is None or high is None:
        return "undefined"
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "within noise"


def _crossed_resampler(n_seeds: int, n_items: int, resamples: int, rng_seed: int):
    """The bootstrap's draws as a function: a (seeds, items) table -> per resample, its sum over
    the drawn cells (seeds and items drawn with replacement, crossed; a cell's weight is how
    often its seed was drawn times how often its item was)."""
    rng = np.random.default_rng(rng_seed)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples).astype(float)
    item_counts = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=resamples).astype(float)
    return lambda values: np.einsum("rs,st,rt->r", seed_counts, values, item_counts)


def paired_mean_difference(a, b, metric: str, higher_is_better: bool, resamples: int = 2000,
                           confidence: float = 0.95, rng_seed: int = 0) -> PairedDifference:
    """B − A of the mean of a (seeds, items) table, where item i is the same thing for both
    methods (a task, or a turn of a fixed set of chats), with the interval of the same crossed
    bootstrap as ``paired_bootstrap``: for per-item measures that are not task results."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or not a.size:
        raise ValueError(f"{metric}: need two non-empty (seeds, items) tables of one shape, got {a.shape} and {b.shape}")
    weighted_sums = _crossed_resampler(*a.shape, resamples, rng_seed)
    resampled = weighted_sums(b - a) / a.size
    tail = (1 - confidence) / 2 * 100
    low, high = float(np.percentile(resampled, tail)), float(np.percentile(resampled, 100 - tail))
    return PairedDifference(metric, float((b - a).mean()), low, high, _verdict(low, high, higher_is_better), skipped=0)


def paired_ratio_difference(a_num, a_den, b_num, b_den, metric: str, higher_is_better: bool, resamples: int = 2000,
                            confidence: float = 0.95, rng_seed: int = 0) -> PairedDifference:
    """B − A of a pooled ratio, sum(numerator) / sum(denominator) over a (seeds, items) table
    (tokens per turn: all tokens over all turns, as ``summarize`` has it), with the interval
    of the same crossed bootstrap as ``paired_mean_difference``."""
    tables = [np.asarray(x, dtype=float) for x in (a_num, a_den, b_num, b_den)]
    if any(x.ndim != 2 or x.shape != tables[0].shape for x in tables) or not tables[0].size:
        raise ValueError(f"{metric}: need four non-empty (seeds, items) tables of one shape")
    weighted_sums = _crossed_resampler(*tables[0].shape, resamples, rng_seed)
    a_num, a_den, b_num, b_den = tables
    resampled = weighted_sums(b_num) / weighted_sums(b_den) - weighted_sums(a_num) / weighted_sums(a_den)
    tail = (1 - confidence) / 2 * 100
    low, high = float(np.percentile(resampled, tail)), float(np.percentile(resampled, 100 - tail))
    estimate = float(b_num.sum() / b_den.sum() - a_num.sum() / a_den.sum())
    return PairedDifference(metric, estimate, low, high, _verdict(low, high, higher_is_better), skipped=0)


def paired_bootstrap(a: Mapping[int, Sequence[TaskResult]], b: Mapping[int, Sequence[TaskResult]],
                     baseline: str = "A", method: str = "B", resamples: int = 2000, confidence: float = 0.95,
                     rng_seed: int = 0) -> PairedComparison:
    """B − A with bootstrap confidence intervals; ``a`` and ``b`` map each seed to its task
    results, and both must hold the same seeds, each with the same tasks."""
    if set(a) != set(b):
        raise ValueError(f"{baseline} and {method} were evaluated on different seeds: {sorted(a)} and {sorted(b)}")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError(f"need resamples >= 1 and 0 < confidence < 1, got {resamples} and {confidence}")
    seeds = sorted(a)
    task_ids_a, table_a = _table(a, seeds)
    task_ids_b, table_b = _table(b, seeds)
    if task_ids_a != task_ids_b:
        raise ValueError(f"{baseline} and {method} were evaluated on different tasks")
    n_seeds, n_tasks = table_a.shape[:2]
    weighted_sums = _crossed_resampler(n_seeds, n_tasks, resamples, rng_seed)
    cells = n_seeds * n_tasks
    tail = (1 - confidence) / 2 * 100
    differences = {}
    for metric in METRICS:
        per_method = []  # (estimate, resampled values) per method
        for table in (table_a, table_b):
            values = table[..., metric.column]
            if metric.over_solved:
                solved = table[..., 0]
                denominators = weighted_sums(solved)
                kept = denominators > 0
                resampled = np.full(resamples, np.nan)
                resampled[kept] = weighted_sums(values * solved)[kept] / denominators[kept]
                estimate = (values * solved).sum() / solved.sum() if solved.sum() else None
            else:
                resampled, estimate = weighted_sums(values) / cells, values.mean()
            per_method.append((estimate, resampled))
        (estimate_a, resampled_a), (estimate_b, resampled_b) = per_method
        resampled = resampled_b - resampled_a
        valid = resampled[~np.isnan(resampled)]
        estimate = None if estimate_a is None or estimate_b is None else float(estimate_b - estimate_a)
        low, high = (None, None) if estimate is None or not valid.size else \
            (float(np.percentile(valid, tail)), float(np.percentile(valid, 100 - tail)))
        differences[metric.key] = PairedDifference(metric.key, estimate, low, high,
                                                   _verdict(low, high, metric.higher_is_better),
                                                   skipped=resamples - valid.size)
    return PairedComparison(baseline, method, tuple(seeds), n_tasks, resamples, confidence, differences)
