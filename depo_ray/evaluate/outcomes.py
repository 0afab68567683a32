"""Per-task outcomes of evaluated policies as one CSV, so anyone can recompute a study's
paired intervals from the repository: one row per (method, seed, task), in the columns
``OUTCOME_COLUMNS``. Pipeline reports write ``outcomes.csv`` beside ``report.md``;
``jobs/compare.py --outcomes`` writes one for any evaluation folders and reads one back.
Math problems have their own file of the same kind (``MATH_OUTCOME_COLUMNS``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from depo_ray.evaluate.metrics import TaskResult
from depo_ray.files import write_text_atomically

OUTCOME_COLUMNS = ("method", "seed", "task_id", "success", "reward", "turns", "generated_tokens", "invalid_actions")
MATH_OUTCOME_COLUMNS = ("method", "seed", "problem_id", "correct", "generated_tokens")


@dataclass(frozen=True)
class EvaluatedPolicy:
    """One evaluated policy's per-task results."""

    method: str
    """Its name in reports: bc, kto, depo, depo_weighted, zero_shot, ..."""
    seed: int
    """Training seed of its preference (or BC) stage; 0 for an untrained model."""
    results: tuple[TaskResult, ...]


def outcome_rows(policies: list[EvaluatedPolicy]) -> list[dict]:
    """The rows of ``policies``, each policy's tasks in id order."""
    return [{"method": p.method, "seed": p.seed, "task_id": r.task_id, "success": int(r.success),
             "reward": round(r.reward, 6), "turns": r.turns, "generated_tokens": r.generated_tokens,
             "invalid_actions": r.invalid_actions}
            for p in policies for r in sorted(p.results, key=lambda r: r.task_id)]


def _write_csv(rows: list[dict], columns: tuple[str, ...], path: str | Path) -> Path:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(Path(path), text.getvalue())
    return Path(path)


def write_outcomes(policies: list[EvaluatedPolicy], path: str | Path) -> Path:
    """``policies`` as an outcomes CSV at ``path`` (replaced atomically)."""
    keys = [(p.method, p.seed) for p in policies]
    if len(set(keys)) != len(keys):
        raise ValueError(f"outcomes: a (method, seed) appears twice in {keys}")
    return _write_csv(outcome_rows(policies), OUTCOME_COLUMNS, path)


def write_math_outcomes(problems: dict[tuple[str, int], list[dict]], path: str | Path) -> Path:
    """``problems``: (method, seed) -> the rows of its problems.parquet; one CSV row per
    problem, each policy's problems in id order."""
    return _write_csv([{"method": method, "seed": seed, "problem_id": r["id"], "correct": int(r["correct"]),
                        "generated_tokens": r["generated_tokens"]}
                       for (method, seed), rows in problems.items() for r in sorted(rows, key=lambda r: r["id"])],
                      MATH_OUTCOME_COLUMNS, path)


def _read_csv(path: str | Path, columns: tuple[str, ...], what: str) -> list[dict]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: not {what}, columns {missing} missing")
        return list(reader)


def read_math_outcomes(path: str | Path) -> dict[tuple[str, int], list[dict]]:
    """(method, seed) -> its problems as problems.parquet has them (id, correct,
    generated_tokens), in the order the file has them."""
    grouped: dict[tuple[str, int], list[dict]] = {}
    for row in _read_csv(path, MATH_OUTCOME_COLUMNS, "a math outcomes file"):
        grouped.setdefault((row["method"], int(row["seed"])), []).append(
            {"id": row["problem_id"], "correct": bool(int(row["correct"])), "generated_tokens": int(row["generated_tokens"])})
    return grouped


def read_outcomes(path: str | Path) -> list[EvaluatedPolicy]:
    """The policies of an outcomes CSV, in the order they first appear (ValueError naming the
    file where a column is missing)."""
    grouped: dict[tuple[str, int], list[TaskResult]] = {}
    for row in _read_csv(path, OUTCOME_COLUMNS, "an outcomes file"):
        grouped.setdefault((row["method"], int(row["seed"])), []).append(TaskResult(
            task_id=int(row["task_id"]), success=bool(int(row["success"])), reward=float(row["reward"]),
            turns=int(row["turns"]), generated_tokens=int(row["generated_tokens"]),
            invalid_actions=int(row["invalid_actions"]), model_seconds=0.0, seconds=0.0))
    return [EvaluatedPolicy(method, seed, tuple(results)) for (method, seed), results in grouped.items()]
