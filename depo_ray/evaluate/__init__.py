"""Evaluation on held-out tasks: greedy play of a checkpoint served by vLLM, and the paper's
metrics (Succ, Reward, T@All, T@Succ, S@All, S@Succ, ...), and paired bootstrap intervals of the
difference between two methods."""

from depo_ray.evaluate.metrics import TaskResult, median_summary, relative_change, summarize
from depo_ray.evaluate.stats import PairedComparison, PairedDifference, paired_bootstrap

__all__ = ["PairedComparison", "PairedDifference", "TaskResult", "median_summary", "paired_bootstrap", "relative_change",
           "summarize"]
