"""A finished stage's broken files stop the next run before any cluster work, each named with
what is wrong and the stage to re-run; nothing broken is skipped silently."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depo_ray.config import from_dict
from depo_ray.pipeline.artifacts import artifact_problems
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.runner import run_problems, stage_settings
from depo_ray.pipeline.stage import RunFolder
from depo_ray.pipeline.recipe import STAGES
from depo_ray.records import TrajectoryRecord, write_shard

STAGE = {s.name: s for s in STAGES}


def record(task_id: int) -> TrajectoryRecord:
    messages = [{"role": "system", "content": "play"}, {"role": "user", "content": "you see a ball"},
                {"role": "assistant", "content": "Action: go to red ball 1"}]
    return TrajectoryRecord(str(task_id), "babyai", "train", 0, "play", messages, 1, 6, 6.0, 1.0, True, "mcts", "tiny")


@pytest.fixture
def folder(tmp_path, tiny_model_dir):
    """A generate stage's shards and an exported model, all sound."""
    write_shard([record(0)], tmp_path / "trajectories" / "task-000000.parquet")
    write_shard([record(1)], tmp_path / "trajectories" / "task-000001.parquet")
    shutil.copytree(tiny_model_dir, tmp_path / "bc" / "seed-0" / "final")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "summary.json").write_text(json.dumps({"succ": 0.5}))
    return tmp_path


def test_sound_artifacts_pass(folder):
    assert artifact_problems(folder) == []
    assert artifact_problems(folder / "missing") == []  # a stage that wrote nothing yet


def test_a_truncated_shard_is_named(folder):
    shard = folder / "trajectories" / "task-000001.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    (problem,) = artifact_problems(folder)
    assert problem.startswith(f"{shard}: unreadable Parquet")


def test_a_shard_missing_a_column_is_named(folder):
    shard = folder / "trajectories" / "task-000001.parquet"
    pq.write_table(pq.read_table(shard).drop_columns(["label", "steps"]), shard)
    assert artifact_problems(folder) == [f"{shard}: trajectory shard missing columns ['steps', 'label']"]


def test_evaluation_and_math_tables_missing_a_column_that_is_read_are_named(folder):
    tasks, answers = folder / "eval" / "tasks.parquet", folder / "math" / "problems.parquet"
    answers.parent.mkdir()
    pq.write_table(pa.table({"task_id": [1], "success": [True], "reward": [1.0], "turns": [2], "generated_tokens": [9],
                             "invalid_actions": [0], "model_seconds": [0.5], "seconds": [1.0]}), tasks)
    pq.write_table(pa.table({"id": ["p1"], "predicted": ["4"], "correct": [True], "generated_tokens": [12]}), answers)
    assert artifact_problems(folder) == []
    pq.write_table(pq.read_table(tasks).drop_columns(["invalid_actions"]), tasks)
    pq.write_table(pq.read_table(answers).drop_columns(["correct"]), answers)
    assert artifact_problems(folder) == [f"{tasks}: per-task results missing columns ['invalid_actions']",
                                         f"{answers}: math answers missing columns ['correct']"]


def test_other_tables_need_only_be_readable(folder):
    pq.write_table(pa.table({"task_id": [1], "succ": [True]}), folder / "eval" / "other.parquet")
    assert artifact_problems(folder) == []


def test_a_model_folder_missing_a_file_or_cut_short_is_named(folder):
    final = folder / "bc" / "seed-0" / "final"
    weights = final / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert artifact_problems(folder) == [f"{weights}: truncated safetensors ({weights.stat().st_size} bytes, "
                                         f"its tensors end at {weights.stat().st_size + 10})"]
    weights.unlink()
    assert artifact_problems(folder) == [f"{final}: model folder without weights (none of model.safetensors, "
                                         "model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json)"]


def test_an_unreadable_json_is_named(folder):
    (folder / "bc" / "seed-0" / "final" / "config.json").write_text("{ broken")
    (problem,) = artifact_problems(folder / "bc")
    assert problem.startswith(f"{folder / 'bc' / 'seed-0' / 'final' / 'config.json'}: unreadable JSON")


def test_a_write_in_progress_or_left_by_a_crash_is_not_checked(folder):
    hidden = folder / "bc" / "seed-0" / ".final.tmp-123"
    hidden.mkdir()
    (hidden / "config.json").write_text("{")
    assert artifact_problems(folder) == []


def test_the_run_stops_naming_the_file_and_the_stage_to_re_run(tmp_path):
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    run = RunFolder(tmp_path)
    for stage in ("bootstrap", "generate"):
        run.finish(stage, stage_settings(STAGE[stage], config), 1.0)
    shard = write_shard([record(0)], tmp_path / "trajectories" / "task-000000.parquet")
    assert run_problems(config, run, None) == []
    shard.write_bytes(b"PAR1 cut")
    (problem,) = run_problems(config, run, None)
    assert problem.startswith(f"generate: {shard}: unreadable Parquet") and problem.endswith("re-run with --from generate)")
    assert run_problems(config, run, "generate") == []  # --from deletes it anyway
    run.marker("generate").unlink()  # stopped half way: the stage redoes its partial files itself
    assert run_problems(config, run, None) == []
