"""Trajectory records: the typed schema of docs/design.md, stored as Parquet shards.

One row per trajectory. Shards are written to a temporary name and renamed into place, so a
crash never leaves half a shard where a reader (or a resumed stage) would pick it up.
Reading validates every row and names the file and row of the first bad one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from depo_ray.files import replaced_atomically
from depo_ray.tokens import tokens_per_turn

LABELS = ("desirable", "undesirable")
SOURCES = ("mcts", "expert", "import", "eval")
ROLES = ("system", "user", "assistant")


@dataclass
class TrajectoryRecord:
    task_id: str
    """Task identifier within its environment (BabyAI: the harness task index)."""
    env: str
    """Environment name, e.g. "babyai"."""
    split: str
    """"train", "dev" or "test"."""
    seed: int
    """Seed the environment was reset with."""
    instruction: str
    """The system instruction u that opens the chat."""
    messages: list[dict[str, str]]
    """The chat: system, first observation, then assistant turns and observations."""
    steps: int
    """T_step: number of agent (assistant) turns."""
    total_tokens: int
    """Generated tokens over all turns, counted with the policy tokenizer (depo_ray.tokens)."""
    avg_tokens_per_step: float
    """T̄_token: total_tokens / steps."""
    reward: float
    """Final environment reward of the trajectory."""
    success: bool
    """Whether the environment reports the task as solved."""
    source: str
    """Where the trajectory came from: "mcts", "expert" or "import"."""
    policy: str
    """Model id or checkpoint that produced it (or "expert")."""
    label: str | None = None
    """"desirable", "undesirable", or None when unlabeled or dropped."""
    provenance: dict = field(default_factory=dict)
    """Search or generation details (level, verbosity, tree id, ...), stored as JSON."""


SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("env", pa.string()),
        ("split", pa.string()),
        ("seed", pa.int64()),
        ("instruction", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("steps", pa.int64()),
        ("total_tokens", pa.int64()),
        ("avg_tokens_per_step", pa.float64()),
        ("reward", pa.float64()),
        ("success", pa.bool_()),
        ("source", pa.string()),
        ("policy", pa.string()),
        ("label", pa.string()),
        ("provenance", pa.string()),
    ]
)
_FIELDS = [f.name for f in fields(TrajectoryRecord)]
assert _FIELDS == SCHEMA.names, "TrajectoryRecord and SCHEMA must list the same fields in order"


class RecordError(ValueError):
    """A record that breaks the schema; the message names the file and row."""


def validate(record: TrajectoryRecord) -> None:
    """Raise ValueError describing the first problem with ``record``."""
    for name, kind in (("task_id", str), ("env", str), ("split", str), ("instruction", str),
                       ("source", str), ("policy", str)):
        if not isinstance(getattr(record, name), kind):
            raise ValueError(f"field '{name}' must be {kind.__name__}, got {getattr(record, name)!r}")
    for name in ("seed", "steps", "total_tokens"):
        value = getattr(record, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"field '{name}' must be a non-negative int, got {value!r}")
    for name in ("reward", "avg_tokens_per_step"):
        value = getattr(record, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"field '{name}' must be a finite number, got {value!r}")
    if not isinstance(record.success, bool):
        raise ValueError(f"field 'success' must be bool, got {record.success!r}")
    if record.label not in (None, *LABELS):
        raise ValueError(f"field 'label' must be one of {LABELS} or null, got {record.label!r}")
    if record.source not in SOURCES:
        raise ValueError(f"field 'source' must be one of {SOURCES}, got {record.source!r}")
    if not isinstance(record.messages, list) or not record.messages:
        raise ValueError("field 'messages' must be a non-empty list")
    for i, message in enumerate(record.messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise ValueError(f"messages[{i}] must be {{role in {ROLES}, content: str}}, got {message!r}")
    turns = sum(1 for m in record.messages if m["role"] == "assistant")
    if turns != record.steps:
        raise ValueError(f"field 'steps' is {record.steps} but messages hold {turns} assistant turns")


def _to_row(record: TrajectoryRecord) -> dict:
    row = asdict(record)
    row["provenance"] = json.dumps(record.provenance, sort_keys=True)
    return row


def write_shard(records: Iterable[TrajectoryRecord], path: str | os.PathLike) -> Path:
    """Validate and write records to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    rows = []
    for i, record in enumerate(records):
        try:
            validate(record)
        except ValueError as error:
            raise RecordError(f"{path}: record {i}: {error}") from None
        rows.append(_to_row(record))
    with replaced_atomically(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
    return path


def shard_paths(location: str | os.PathLike) -> list[Path]:
    """A shard file, or every complete shard in a folder (temporary files are skipped)."""
    location = Path(location)
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*.parquet") if not p.name.startswith("."))


def read_records(location: str | os.PathLike) -> list[TrajectoryRecord]:
    """Read and validate every record of a shard or a folder of shards."""
    records = []
    for path in shard_paths(location):
        table = pq.read_table(path)
        missing = [name for name in _FIELDS if name not in table.column_names]
        if missing:
            raise RecordError(f"{path}: missing columns {missing}")
        for i, row in enumerate(table.select(_FIELDS).to_pylist()):
            try:
                row["provenance"] = json.loads(row["provenance"] or "{}")
                record = TrajectoryRecord(**row)
                validate(record)
            except (ValueError, TypeError) as error:
                raise RecordError(f"{path}: row {i}: {error}") from None
            records.append(record)
    return records


def record_from_episode(episode, tokenizer, **fields_) -> TrajectoryRecord:
    """A record for a played episode (``environments.episode.Episode``), with its token counts
    from ``tokenizer``. ``fields_`` gives the rest: task_id, env, split, seed, source, policy,
    and optionally label and provenance; the episode's invalid turns, if any, join the
    provenance as ``invalid_turns``."""
    counts = tokens_per_turn(tokenizer, episode.messages)
    total = sum(counts)
    if episode.invalid_turns:
        fields_["provenance"] = {**fields_.get("provenance", {}), "invalid_turns": episode.invalid_turns}
    return TrajectoryRecord(
        instruction=episode.instruction,
        messages=episode.messages,
        steps=episode.turns,
        total_tokens=total,
        avg_tokens_per_step=total / episode.turns if episode.turns else 0.0,
        reward=float(episode.reward),
        success=bool(episode.success),
        **fields_,
    )
