"""Generation stage: parallel MCTS workers against vLLM policy servers, one Parquet shard per
task in the output folder. Re-running skips finished tasks.

    ray job submit -- python "$PWD/jobs/generate.py" --config configs/cpu_generate.yaml
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.env_setup import paths_under
from depo_ray.models.checks import model_problem
from depo_ray.search.generate import run_generation
from depo_ray.search.config import GenerateConfig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML GenerateConfig (paths relative to the project root)")
    args = parser.parse_args()
    config = load_job_config(GenerateConfig, ROOT, args.config, required=("policy", "output_dir"))
    policy = model_under_root(ROOT, config.policy)
    config = replace(config, policy=policy, output_dir=under_root(ROOT, config.output_dir), env=paths_under(config.env, ROOT))
    if problem := model_problem(policy, ROOT):
        raise SystemExit(f"{args.config}: policy: {problem}")

    from depo_ray.cluster import connect

    connect()
    totals = run_generation(config)
    print(json.dumps(totals, indent=2))
    print(f"trajectories: {config.output_dir}")


if __name__ == "__main__":
    main()
