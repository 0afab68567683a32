"""Bootstrap stage: build the tiny policy (or, with ``policy`` set, start from that pretrained
model), record expert demonstrations and warm-start the policy on them by behaviour cloning
(the BC stage's own code). Skips parts whose artifacts exist.

    ray job submit -- python "$PWD/jobs/bootstrap.py" --config configs/cpu_bootstrap.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from depo_ray.bootstrap.config import BootstrapConfig, BootstrapRun
from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.env_setup import EnvConfig, paths_under
from depo_ray.models.checks import model_problem

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BootstrapJob:
    run_dir: str = ""
    """Where the bootstrap writes policy/, demos/, bc/, bc_model/ and bootstrap.json (relative to
    the project root)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment of the demonstrations, with its options."""
    policy: str | None = None
    """A pretrained model (folder, Hugging Face id or named model) the BC rounds start from;
    None: a new tiny model (``bootstrap.model``)."""
    max_new_tokens: int = 96
    """Tokens the policy may write per turn, in the greedy check and later (the pipeline uses
    the smaller of its generate and evaluate budgets)."""
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    """The demonstrations and the BC rounds."""

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        self.bootstrap.check_expert(self.env.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML with run_dir, env, policy, max_new_tokens and bootstrap "
                                                        "(paths relative to the project root)")
    args = parser.parse_args()
    job = load_job_config(BootstrapJob, ROOT, args.config, required=("run_dir",))
    policy = model_under_root(ROOT, job.policy) if job.policy else None
    if policy and (problem := model_problem(policy, ROOT)):
        raise SystemExit(f"{args.config}: policy: {problem}")

    from depo_ray.bootstrap.warm_start import bootstrap_policy
    from depo_ray.cluster import connect

    connect()
    target = BootstrapRun(under_root(ROOT, job.run_dir), paths_under(job.env, ROOT), policy, job.max_new_tokens)
    print(f"policy: {bootstrap_policy(job.bootstrap, target)}")


if __name__ == "__main__":
    main()
