"""Command line of the training jobs (jobs/train_bc.py, jobs/train_depo.py).

The YAML file holds ``data`` (labeled Parquet shards or folders) and ``train`` (a
TrainConfig); both are validated before Ray is touched.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from depo_ray.config import load_yaml
from depo_ray.records import shard_paths
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class StageConfig:
    data: tuple[str, ...]
    """Labeled record shards, or folders of them (BC: D_BC; DEPO/KTO: D and U)."""
    train: TrainConfig
    """The training stage."""


def main(stage: str) -> None:
    from depo_ray.cluster import connect
    from depo_ray.train.run import run_bc, run_preference

    parser = argparse.ArgumentParser(description=f"Train the {stage} stage on Ray Train.")
    parser.add_argument("--config", required=True, help="YAML with 'data' and 'train'")
    args = parser.parse_args()
    config = load_yaml(StageConfig, args.config)
    shards = [str(p) for location in config.data for p in shard_paths(location)]
    if not shards:
        raise SystemExit(f"{args.config}: data: no Parquet shards found in {list(config.data)}")
    connect()
    run = run_bc if stage == "bc" else run_preference
    result, final = run(config.train, shards)
    print(f"final metrics: {result.metrics}")
    print(f"model: {Path(final).resolve()}")
    print(f"per-step metrics: {(Path(config.train.output_dir) / 'metrics.jsonl').resolve()}")
