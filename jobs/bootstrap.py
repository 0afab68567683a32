"""Bootstrap stage: build the tiny policy (or, with ``policy`` set, start from that pretrained
model), record expert demonstrations and warm-start the policy on them by behaviour cloning
(the BC stage's own code). Skips parts whose artifacts exist.

    ray job submit -- python "$PWD/jobs/bootstrap.py" --config configs/cpu_bootstrap.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from depo_ray.bootstrap.config import BootstrapConfig
from depo_ray.bootstrap.warm_start import bootstrap_policy
from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.env_setup import paths_under
from depo_ray.models.checks import model_problem

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML BootstrapConfig (paths relative to the project root)")
    args = parser.parse_args()
    config = load_job_config(BootstrapConfig, ROOT, args.config, required=("run_dir", "env"))
    config = replace(config, run_dir=under_root(ROOT, config.run_dir), env=paths_under(config.env, ROOT),
                     policy=model_under_root(ROOT, config.policy) if config.policy else None)
    if config.policy and (problem := model_problem(config.policy, ROOT)):
        raise SystemExit(f"{args.config}: policy: {problem}")

    from depo_ray.cluster import connect

    connect()
    print(f"policy: {bootstrap_policy(config)}")


if __name__ == "__main__":
    main()
