"""Checks of the files a finished stage left, run before a pipeline builds on them.

A stage that completed wrote its artifacts; a disk that filled up, a copy cut short or a hand
edit can still break them afterwards. ``artifact_problems`` reads only headers and metadata
(no model is loaded), so a broken file stops the run before any cluster work, naming the file
and what is wrong with it, instead of failing half way through a later stage or being skipped.
"""

from __future__ import annotations

import json
import struct
from dataclasses import fields
from pathlib import Path

import pyarrow.parquet as pq

from depo_ray.evaluate.metrics import SOLVED_COLUMNS, TaskResult
from depo_ray.models.checks import model_folder_problem
from depo_ray.records import SCHEMA


def read_columns(path: Path, names: list[str]) -> tuple[str, tuple[str, ...]]:
    """What kind of table this is, and the columns later stages and jobs read from it: a
    trajectory shard (it has ``messages``) the record schema, an evaluation's per-task
    results (``tasks.parquet``) every TaskResult field, a math run's answers
    (``problems.parquet``) the columns its summary and comparisons read; others none."""
    if "messages" in names:
        return "trajectory shard", tuple(SCHEMA.names)
    if path.name == "tasks.parquet":
        return "per-task results", tuple(f.name for f in fields(TaskResult))
    if path.name == "problems.parquet":
        return "math answers", SOLVED_COLUMNS
    return "table", ()


def parquet_problem(path: Path) -> str | None:
    """Unreadable (a truncated file has no footer), or missing a column that is read from it
    (``read_columns``)."""
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as error:  # pyarrow raises several types for a broken file
        return f"unreadable Parquet ({type(error).__name__}: {error})"
    kind, needed = read_columns(path, names)
    missing = [name for name in needed if name not in names]
    return f"{kind} missing columns {missing}" if missing else None


def read_json(path: Path) -> tuple[object, str | None]:
    """The file's content, or None and why it is unreadable."""
    try:
        return json.loads(path.read_text()), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"unreadable JSON ({error})"


def json_problem(path: Path) -> str | None:
    return read_json(path)[1]


def safetensors_problem(path: Path) -> str | None:
    """The header says where each tensor's bytes end; a file shorter than that is cut off."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > size - 8:
                return f"truncated safetensors (header of {length} bytes in a {size}-byte file)"
            header = json.loads(handle.read(length))
        end = max((int(t["data_offsets"][1]) for name, t in header.items() if name != "__metadata__"), default=0)
    except (OSError, struct.error, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError, IndexError) as error:
        return f"unreadable safetensors header ({type(error).__name__}: {error})"
    return f"truncated safetensors ({size} bytes, its tensors end at {8 + length + end})" if 8 + length + end > size else None


CHECKS = {".parquet": parquet_problem, ".json": json_problem, ".safetensors": safetensors_problem}


def artifact_problems(path: Path) -> list[str]:
    """``"<file>: <problem>"`` for every broken file under ``path`` (a file or a folder);
    hidden files and folders (a leading dot: a write in progress, or one a crash left
    behind) are left alone."""
    if not path.exists():
        return []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    problems = []
    for file in files:
        if any(part.startswith(".") for part in file.relative_to(path.parent).parts):
            continue
        check = CHECKS.get(file.suffix)
        if check and (problem := check(file)):
            problems.append(f"{file}: {problem}")
        if file.name == "config.json" and (problem := model_folder_problem(file.parent)):
            problems.append(f"{file.parent}: {problem}")
    return problems
