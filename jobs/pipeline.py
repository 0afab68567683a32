"""The end-to-end job: bootstrap (CPU default only) -> generate -> label -> bc -> kto, depo ->
evaluate -> report, every artifact under runs/<run>/ and every finished stage skipped on re-run.

    ray job submit -- python "$PWD/jobs/pipeline.py" --config configs/cpu_pipeline.yaml
    python jobs/pipeline.py --config configs/cpu_pipeline.yaml --dry-run
    RAY_ADDRESS=HEAD:6379 python jobs/pipeline.py --config configs/qwen2.5_7b_pipeline.yaml --dry-run   # against a cluster
    python jobs/pipeline.py --config configs/cpu_pipeline.yaml --from depo
    python jobs/pipeline.py --set 'seeds=[0,1,2]' --set run_dir=runs/cpu-seeds
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from depo_ray.config import ConfigError, load_job_config, model_under_root
from depo_ray.env_setup import paths_under, paths_within
from depo_ray.models.checks import model_problem
from depo_ray.models.sources import SOURCES, ModelSourceError, prepare
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.plan import plan_run, resource_problems
from depo_ray.pipeline.runner import run_pipeline
from depo_ray.pipeline.recipe import STAGES

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/cpu_pipeline.yaml", help="YAML PipelineConfig (relative to the project root)")
    parser.add_argument("--from", dest="from_stage", choices=[s.name for s in STAGES], help="re-run this stage and every later one")
    parser.add_argument("--dry-run", action="store_true", help="validate the config, print the plan and whether it fits this machine "
                        "(or the cluster RAY_ADDRESS names); load nothing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (dotted for sections, YAML value), e.g. seeds=[0,1,2]; repeatable")
    args = parser.parse_args()
    config = load_job_config(PipelineConfig, ROOT, args.config, overrides=args.overrides)
    try:
        config = replace(config, env=paths_within(config.env, ROOT))  # one spelling per folder in the markers
        plan = plan_run(config, ROOT, args.from_stage)
        paths_under(config.env, ROOT)  # the env's folders (WebShop data) exist, taken from the project root
    except (ConfigError, ValueError) as error:
        raise SystemExit(f"config error: {error}") from None
    print(plan.table())
    if plan.problems:
        raise SystemExit("config error: " + "\n".join(plan.problems))
    if args.dry_run:
        where, cpus, gpus = _capacity()
        problems = resource_problems(plan.pending(), cpus, gpus)
        print(f"{where}: {cpus:g} CPUs, {gpus:g} GPUs: " + ("fits" if not problems else "does not fit"))
        for problem in problems:
            print(f"  {problem}")
        return

    if config.policy in SOURCES:  # once, before any cluster work: a failed download ends the job here
        try:
            prepare(config.policy)
        except ModelSourceError as error:
            raise SystemExit(f"policy: {config.policy}: {error}") from None
    elif config.policy is not None and (problem := model_problem(model_under_root(ROOT, config.policy), ROOT)):
        raise SystemExit(f"policy: {problem}")

    import ray

    from depo_ray.cluster import StorageNotShared, connect

    connect()
    available = ray.cluster_resources()
    problems = resource_problems(plan.pending(), available.get("CPU", 0), available.get("GPU", 0))
    if problems:
        raise SystemExit("impossible resources:\n  " + "\n  ".join(problems))
    try:
        report = run_pipeline(config, ROOT, args.from_stage)
    except StorageNotShared as error:
        raise SystemExit(str(error)) from None
    print(f"report: {report.resolve()}")


def _capacity() -> tuple[str, float, float]:
    """What a dry run measures the plan against: the cluster that RAY_ADDRESS names (its
    nodes' CPUs and GPUs, as Ray counts them), else this machine."""
    if address := os.environ.get("RAY_ADDRESS"):
        import ray

        from depo_ray.cluster import connect

        connect()
        total = ray.cluster_resources()
        return f"the cluster at {address}", total.get("CPU", 0), total.get("GPU", 0)
    import torch

    return "this machine", os.cpu_count() or 1, torch.cuda.device_count()


if __name__ == "__main__":
    main()
