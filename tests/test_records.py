"""Trajectory records: Parquet round trip, atomic writes, and errors that name file and row."""

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depo_ray.records import SCHEMA, RecordError, TrajectoryRecord, read_records, record_from_episode, write_shard
from environments.babyai import BabyAIConfig, BabyAITextEnv
from environments.babyai.expert import BabyAIExpert, ExpertConfig


def make_record(**overrides) -> TrajectoryRecord:
    fields = dict(
        task_id="1840", env="babyai", split="train", seed=46, instruction="Be quick.",
        messages=[
            {"role": "system", "content": "Be quick."},
            {"role": "user", "content": "Mission: go to the red ball"},
            {"role": "assistant", "content": "Thought: go.\nAction: go to red ball 1"},
        ],
        steps=1, total_tokens=12, avg_tokens_per_step=12.0, reward=0.8875, success=True,
        source="expert", policy="expert", label="desirable", provenance={"level": "BabyAI-GoToRedBallGrey-v0", "verbosity": 0},
    )
    fields.update(overrides)
    return TrajectoryRecord(**fields)


def test_round_trip(tmp_path):
    records = [make_record(), make_record(task_id="7", label=None, reward=0.0, success=False, provenance={})]
    write_shard(records, tmp_path / "shard-000.parquet")
    assert read_records(tmp_path) == records
    assert pq.read_schema(tmp_path / "shard-000.parquet").equals(SCHEMA, check_metadata=False)


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    write_shard([make_record()], tmp_path / "a.parquet")
    with pytest.raises(RecordError, match=r"b\.parquet: record 1: field 'reward' must be a finite number"):
        write_shard([make_record(), make_record(reward=math.nan)], tmp_path / "b.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_half_written_temporary_shards_are_ignored(tmp_path):
    write_shard([make_record()], tmp_path / "a.parquet")
    (tmp_path / ".b.parquet.tmp-123").write_bytes(b"PAR1 truncated")
    assert len(read_records(tmp_path)) == 1


def _write_raw(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)


def _raw_row(**overrides):
    row = {name: getattr(make_record(), name) for name in SCHEMA.names}
    row["provenance"] = "{}"
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"reward": float("nan")}, "field 'reward' must be a finite number"),
        ({"steps": 3}, "field 'steps' is 3 but messages hold 1 assistant turns"),
        ({"label": "great"}, "field 'label' must be one of"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, r"messages\[0\] must be"),
        ({"success": None}, "field 'success' must be bool"),
        ({"task_id": None}, "field 'task_id' must be str"),
    ],
)
def test_bad_rows_are_named_by_file_and_row(tmp_path, bad, message):
    path = tmp_path / "shard.parquet"
    _write_raw(path, [_raw_row(), _raw_row(**bad)])
    with pytest.raises(RecordError, match=rf"shard\.parquet: row 1: {message}"):
        read_records(path)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "shard.parquet"
    row = _raw_row()
    del row["reward"], row["label"]
    _write_raw(path, [row])
    with pytest.raises(RecordError, match=r"shard\.parquet: missing columns \['reward', 'label'\]"):
        read_records(path)


def test_record_from_episode_counts_tokens_per_turn(tiny_tokenizer):
    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    demo = BabyAIExpert(env, ExpertConfig(detour_share=0.0)).demonstrate(11)
    record = record_from_episode(
        demo.episode, tiny_tokenizer, task_id="11", env="babyai", split="train", seed=0,
        source="expert", policy="expert",
    )
    assert record.steps == demo.episode.turns > 1
    assert record.total_tokens > record.steps
    assert record.avg_tokens_per_step == pytest.approx(record.total_tokens / record.steps)
    assert record.instruction == demo.episode.messages[0]["content"]
