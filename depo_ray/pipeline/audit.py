"""What a run folder holds against a reference run of the same config: stage markers, searched
tasks, labeled rows, training steps and evaluated tasks, each lost or duplicated one named.
The chaos benchmark compares a run that survived faults with an uninterrupted one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from depo_ray.files import read_jsonl, run_outputs
from depo_ray.pipeline.stage import RunFolder


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _steps(metrics: Path) -> list[int]:
    return [row["step"] for row in read_jsonl(metrics)]


def _duplicates(values) -> list:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def marker_problems(reference: Path, run: Path) -> list[str]:
    expected = {p.name for p in (reference / "stages").glob("*.json") if not p.name.endswith(".started.json")}
    found = {p.name for p in (run / "stages").glob("*.json")}
    return [f"stage marker stages/{name} is missing" for name in sorted(expected - found)]


def trajectory_problems(reference: Path, run: Path) -> list[str]:
    """Every searched task's shard is there once, and no trajectory is in it twice."""
    expected = {p.name for p in RunFolder(reference).trajectories.glob("task-*.parquet")}
    found = {p.name for p in RunFolder(run).trajectories.glob("task-*.parquet")}
    problems = [f"trajectories/{name} is missing" for name in sorted(expected - found)]
    problems += [f"trajectories/{name} was not in the reference run" for name in sorted(found - expected)]
    for name in sorted(found & expected):
        chats = [json.dumps(row["messages"]) for row in _rows(RunFolder(run).trajectories / name)]
        if _duplicates(chats):
            problems.append(f"trajectories/{name} holds {len(chats) - len(set(chats))} duplicated trajectories")
    return problems


def label_problems(reference: Path, run: Path) -> list[str]:
    expected, found = (len(_rows(RunFolder(folder).labeled)) for folder in (reference, run))
    return [] if expected == found else [f"labeled/all.parquet has {found} rows, the reference run {expected}"]


def step_problems(reference: Path, run: Path) -> list[str]:
    """Each training run logged each step once, as many steps as the reference run."""
    problems = []
    for metrics in run_outputs(reference, "metrics.jsonl"):
        name = metrics.relative_to(reference)
        other = run / name
        if not other.exists():
            problems.append(f"{name} is missing")
            continue
        steps, expected = _steps(other), _steps(metrics)
        if _duplicates(steps):
            problems.append(f"{name} logs steps {_duplicates(steps)[:5]} more than once")
        if sorted(set(steps)) != sorted(set(expected)):
            problems.append(f"{name} has steps {min(steps, default=None)}..{max(steps, default=None)} ({len(set(steps))}), "
                            f"the reference {min(expected, default=None)}..{max(expected, default=None)} ({len(set(expected))})")
    return problems


def evaluation_problems(reference: Path, run: Path) -> list[str]:
    """Each evaluation played every task of the reference's, each once."""
    problems = []
    for tasks in run_outputs(reference, "tasks.parquet"):
        name = tasks.relative_to(reference)
        if not (run / name).exists():
            problems.append(f"{name} is missing")
            continue
        played = [row["task_id"] for row in _rows(run / name)]
        expected = {row["task_id"] for row in _rows(tasks)}
        if _duplicates(played):
            problems.append(f"{name} plays tasks {_duplicates(played)[:5]} more than once")
        if set(played) != expected:
            problems.append(f"{name} misses tasks {sorted(expected - set(played))[:5]}")
    return problems


def run_problems_against(reference: Path, run: Path) -> list[str]:
    """Everything lost or duplicated in ``run`` against ``reference`` (empty: nothing)."""
    return (marker_problems(reference, run) + trajectory_problems(reference, run) + label_problems(reference, run)
            + step_problems(reference, run) + evaluation_problems(reference, run))
