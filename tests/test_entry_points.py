"""Every entry point checks its config, model and inputs before any cluster work: a mistyped
path ends it in seconds with one line naming the path, and no Ray process is started (the
jobs are pointed at a Ray address where nothing listens, so a job that tried to connect would
hang there instead of failing)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from depo_ray.processes import marked

ROOT = Path(__file__).resolve().parents[1]
TYPO = "runs/no-such-policy-folder"
MARKER = "DEPO_RAY_ENTRY_POINT_TEST"


def _yaml(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _train(tmp_path: Path, loss: str) -> list[str]:
    return ["--config", _yaml(tmp_path / "train.yaml", {"data": [str(tmp_path / "labeled")], "model": TYPO,
                                                        "output_dir": str(tmp_path / "out"),
                                                        "train": {"loss": {"name": loss}, "global_batch_size": 2}})]


CASES = {
    "pipeline": (lambda t: ["jobs/pipeline.py", "--set", f"policy={TYPO}", "--set", f"run_dir={t / 'run'}"],
                 "policy: "),
    "train_bc": (lambda t: ["jobs/train_bc.py", *_train(t, "sft")], "model: "),
    "train_depo": (lambda t: ["jobs/train_depo.py", *_train(t, "depo")], "model: "),
    "generate": (lambda t: ["jobs/generate.py", "--config", _yaml(t / "generate.yaml", {
        "policy": TYPO, "output_dir": str(t / "out")})], "policy: "),
    "evaluate": (lambda t: ["jobs/evaluate.py", "--policy", TYPO, "--output", str(t / "out")],
                 "policy: "),
    "eval_math": (lambda t: ["jobs/eval_math.py", "--policy", TYPO, "--output", str(t / "out")],
                  "policy: "),
    "bootstrap": (lambda t: ["jobs/bootstrap.py", "--config", _yaml(t / "bootstrap.yaml", {
        "run_dir": str(t / "run"), "env": {"name": "babyai"}, "policy": TYPO})],
                  "policy: "),
    "sweep": (lambda t: ["sweeps/alpha_grid.py", "--pipeline", "configs/no-such-pipeline.yaml"],
              "no-such-pipeline.yaml: cannot read config"),
}


@pytest.mark.parametrize("job", sorted(CASES))
def test_a_mistyped_path_ends_the_job_in_one_line_before_any_cluster_work(job, tmp_path):
    command, expected = CASES[job]
    marker = uuid.uuid4().hex
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1", "HF_ENDPOINT": "http://127.0.0.1:9", MARKER: marker}
    started = time.monotonic()
    out = subprocess.run([sys.executable, *command(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    seconds = time.monotonic() - started
    last = (out.stderr.strip().splitlines() or [""])[-1]
    # the line names the setting and the path (as a missing project folder when runs/ exists, else as
    # a Hugging Face id this machine neither has nor can download)
    assert out.returncode != 0 and expected in last and ("no-such" in last), out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not marked(MARKER, marker)
    assert seconds < 60, f"{job} took {seconds:.0f} s to refuse a mistyped path"


def test_the_pipeline_job_stops_on_a_corrupted_run_folder_in_one_line_before_any_cluster_work(tmp_path):
    """A finished generate stage whose shard was cut short afterwards: the job names the file
    and the stage to re-run, and connects to nothing."""
    from depo_ray.config import load_yaml
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.recipe import STAGES
    from depo_ray.pipeline.runner import stage_settings
    from depo_ray.pipeline.stage import RunFolder
    from tests.test_artifacts import record
    from depo_ray.records import write_shard

    run_dir = tmp_path / "run"
    config = load_yaml(PipelineConfig, ROOT / "configs" / "cpu_pipeline.yaml", {"run_dir": str(run_dir)})
    run, stages = RunFolder(run_dir), {s.name: s for s in STAGES}
    for name in ("bootstrap", "generate"):
        run.finish(name, stage_settings(stages[name], config), 1.0)
    shard = write_shard([record(0)], run_dir / "trajectories" / "task-000000.parquet")
    shard.write_bytes(b"PAR1 cut")
    marker = uuid.uuid4().hex
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1", MARKER: marker}
    out = subprocess.run([sys.executable, "jobs/pipeline.py", "--set", f"run_dir={run_dir}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr and not marked(MARKER, marker), out.stderr[-2000:]
    assert f"{shard}: unreadable Parquet" in out.stderr and "--from generate" in out.stderr


SHIPPED = {"cpu_bootstrap.yaml": ("jobs/bootstrap.py", "BootstrapJob"), "cpu_generate.yaml": ("jobs/generate.py", "GenerateJob"),
           "cpu_bc.yaml": ("depo_ray/train/cli.py", "StageConfig"), "cpu_depo.yaml": ("depo_ray/train/cli.py", "StageConfig"),
           "cpu_math.yaml": ("jobs/eval_math.py", "MathJob"), "cpu_alpha_grid.yaml": ("depo_ray/tune/config.py", "SweepConfig"),
           "cpu_distill_study.yaml": ("benchmarks/distillation_study.py", "DistillStudyConfig")}
"""Each shipped config that is not a pipeline config -> the file that defines its job's config class."""
RESULTS = {"bootstrap": ("jobs/bootstrap.py", "BootstrapJob"), "math": ("jobs/eval_math.py", "MathJob")}
"""The configs beside a study in docs/results, by the job named in their file name (bootstrap_*, *_math)."""


def _job(path: Path) -> tuple[str, str]:
    if path.name in SHIPPED:
        return SHIPPED[path.name]
    return next(job for word, job in RESULTS.items() if word in path.stem.split("_"))


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "docs" / "results").glob("*/*.yaml")),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_every_shipped_or_studied_config_loads_as_its_job_reads_it(path):
    """The configs a study committed must still run its commands."""
    import importlib.util

    from depo_ray.config import load_yaml
    from depo_ray.pipeline.config import PipelineConfig

    if path.name.endswith("_pipeline.yaml"):
        cls = PipelineConfig
    else:
        source, name = _job(path)
        spec = importlib.util.spec_from_file_location(f"shipped_{path.stem}", ROOT / source)
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(module)
        cls = getattr(module, name)
    assert isinstance(load_yaml(cls, path), cls)
