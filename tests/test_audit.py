"""A run folder against a reference run: lost or duplicated markers, trajectories, labeled rows,
training steps and evaluated tasks are each named (the chaos benchmark's verdict)."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from depo_ray.pipeline.audit import run_problems_against


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _run(folder):
    (folder / "stages").mkdir(parents=True)
    for stage in ("generate", "label", "bc"):
        (folder / "stages" / f"{stage}.json").write_text("{}")
    chat = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    _write(folder / "trajectories" / "task-000000.parquet", [{"messages": chat("a")}, {"messages": chat("b")}])
    _write(folder / "trajectories" / "task-000001.parquet", [{"messages": chat("c")}])
    _write(folder / "labeled" / "all.parquet", [{"task_id": "0"}, {"task_id": "1"}])
    (folder / "bc" / "seed-0").mkdir(parents=True)
    (folder / "bc" / "seed-0" / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3)))
    _write(folder / "eval" / "bc" / "seed-0" / "tasks.parquet", [{"task_id": t} for t in (7, 8)])
    _write(folder / "mlartifacts" / "x" / "tasks.parquet", [{"task_id": 99}])  # a copy, not an output
    return folder


def test_an_identical_run_has_no_problems(tmp_path):
    reference = _run(tmp_path / "reference")
    shutil.copytree(reference, tmp_path / "run")
    assert run_problems_against(reference, tmp_path / "run") == []


def test_each_lost_or_duplicated_output_is_named(tmp_path):
    reference = _run(tmp_path / "reference")
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "stages" / "bc.json").unlink()
    (run / "trajectories" / "task-000001.parquet").unlink()
    chat = [{"role": "assistant", "content": "a"}]
    _write(run / "trajectories" / "task-000000.parquet", [{"messages": chat}, {"messages": chat}])
    _write(run / "labeled" / "all.parquet", [{"task_id": "0"}])
    (run / "bc" / "seed-0" / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 2)))
    _write(run / "eval" / "bc" / "seed-0" / "tasks.parquet", [{"task_id": 7}, {"task_id": 7}])
    problems = "\n".join(run_problems_against(reference, run))
    for expected in ("stages/bc.json is missing", "trajectories/task-000001.parquet is missing",
                     "task-000000.parquet holds 1 duplicated", "has 1 rows, the reference run 2",
                     "logs steps [2] more than once", "has steps 1..2 (2), the reference 1..3 (3)",
                     "plays tasks [7] more than once", "misses tasks [8]"):
        assert expected in problems
    assert "mlartifacts" not in problems
