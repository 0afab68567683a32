"""Command line of the training jobs (jobs/train_bc.py, jobs/train_depo.py).

The YAML file holds ``data`` (labeled Parquet shards or folders), ``model`` (the policy the
stage starts from), ``output_dir`` and ``train`` (a TrainConfig); all are validated before
Ray is touched. Relative paths (the config file,
data, model folder, output_dir) are taken from the project root, not from the working
directory: a job submitted with ``ray job submit`` runs in a directory of Ray's choosing.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from depo_ray.cluster import connect
from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.models.checks import model_problem
from depo_ray.records import read_records, shard_paths
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class StageConfig:
    data: tuple[str, ...]
    """Labeled record shards, or folders of them (BC: D_BC; DEPO/KTO: D and U)."""
    model: str
    """The policy the stage starts from (for DEPO/KTO: π_BC): a folder, Hugging Face id or
    named model."""
    output_dir: str
    """Where the stage writes its checkpoints, metrics.jsonl and the final model folder."""
    train: TrainConfig
    """The training settings."""


def resolve_paths(config: StageConfig, root: Path) -> StageConfig:
    return replace(config, data=tuple(under_root(root, d) for d in config.data), model=model_under_root(root, config.model),
                   output_dir=under_root(root, config.output_dir))


def main(stage: str, root: Path) -> None:
    parser = argparse.ArgumentParser(description=f"Train the {stage} stage on Ray Train.")
    parser.add_argument("--config", required=True, help="YAML with data, model, output_dir and train "
                                                        "(relative to the project root)")
    args = parser.parse_args()
    config = resolve_paths(load_job_config(StageConfig, root, args.config, required=("model", "output_dir")), root)
    if problem := model_problem(config.model, root):
        raise SystemExit(f"{args.config}: model: {problem}")
    shards = [str(p) for location in config.data for p in shard_paths(location)]
    if not shards:
        raise SystemExit(f"{args.config}: data: no Parquet shards found in {list(config.data)}")
    for shard in shards:  # bad records fail here, naming file and row, before any cluster work
        read_records(shard)
    from depo_ray.train.run import run_bc, run_preference  # torch: only once the checks above passed

    connect()
    run = run_bc if stage == "bc" else run_preference
    result, final = run(config.train, config.model, config.output_dir, shards)
    print(f"final metrics: {result.metrics}")
    print(f"model: {Path(final).resolve()}")
    print(f"per-step metrics: {(Path(config.output_dir) / 'metrics.jsonl').resolve()}")
