"""Generation stage: parallel MCTS workers against vLLM policy servers, one Parquet shard per
task in the output folder. Re-running skips finished tasks.

    ray job submit -- python "$PWD/jobs/generate.py" --config configs/cpu_generate.yaml
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.env_setup import EnvConfig, paths_under
from depo_ray.models.checks import model_problem
from depo_ray.search.config import GenerateConfig

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class GenerateJob:
    policy: str = ""
    """Model folder (relative to the project root), Hugging Face id or named model to search with."""
    output_dir: str = ""
    """Folder of the per-task trajectory shards (relative to the project root)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Which environment, with its options."""
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    """The search's settings: tasks, MCTS, serving, workers."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML with policy, output_dir, env and generate (paths relative "
                                                        "to the project root)")
    args = parser.parse_args()
    job = load_job_config(GenerateJob, ROOT, args.config, required=("policy", "output_dir"))
    policy, output_dir = model_under_root(ROOT, job.policy), under_root(ROOT, job.output_dir)
    if problem := model_problem(policy, ROOT):
        raise SystemExit(f"{args.config}: policy: {problem}")

    from depo_ray.cluster import connect
    from depo_ray.search.generate import run_generation

    connect()
    totals = run_generation(job.generate, policy, paths_under(job.env, ROOT), output_dir)
    print(json.dumps(totals, indent=2))
    print(f"trajectories: {output_dir}")


if __name__ == "__main__":
    main()
