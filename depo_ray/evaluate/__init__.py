"""Evaluation on held-out tasks: greedy play of a checkpoint served by vLLM, and the paper's
metrics (Succ, Reward, T@All, T@Succ, S@All, S@Succ, ...)."""

from depo_ray.evaluate.metrics import TaskResult, median_summary, relative_change, summarize

__all__ = ["TaskResult", "median_summary", "relative_change", "summarize"]
