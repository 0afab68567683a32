"""The end-to-end job: bootstrap (CPU default only) -> generate -> label -> bc -> kto, depo ->
evaluate -> report, every artifact under runs/<run>/ and every finished stage skipped on re-run.

    ray job submit -- python "$PWD/jobs/pipeline.py" --config configs/cpu_pipeline.yaml
    python jobs/pipeline.py --config configs/cpu_pipeline.yaml --dry-run
    python jobs/pipeline.py --config configs/cpu_pipeline.yaml --from depo
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from depo_ray.config import ConfigError, load_yaml, under_root
from depo_ray.pipeline.config import STAGES, PipelineConfig
from depo_ray.pipeline.plan import format_plan, resource_problems, stage_needs
from depo_ray.pipeline.stages import RunFolder, run_pipeline, stale_stages, to_run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/cpu_pipeline.yaml", help="YAML PipelineConfig (relative to the project root)")
    parser.add_argument("--from", dest="from_stage", choices=STAGES, help="re-run this stage and every later one")
    parser.add_argument("--dry-run", action="store_true", help="validate the config, print the plan, load nothing")
    args = parser.parse_args()
    try:
        config = load_yaml(PipelineConfig, under_root(ROOT, args.config))
        stages = to_run(config, args.from_stage)
        run = RunFolder(under_root(ROOT, config.run_dir))
        stale = stale_stages(config, run, set(stages) if args.from_stage else set())
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
    status = {s: "skip (policy given)" for s in STAGES if s not in stages}
    status.update({s: "redo" if args.from_stage else ("done" if run.completed(s) and s != "report" else "todo") for s in stages})
    needs = stage_needs(config)
    print(f"run folder: {run.root}\n{format_plan(needs, status)}")
    if stale:
        raise SystemExit("config error: " + "\n".join(stale))
    if args.dry_run:
        import torch

        cpus, gpus = os.cpu_count() or 1, torch.cuda.device_count()
        problems = resource_problems(needs, cpus, gpus)
        print(f"this machine: {cpus} CPUs, {gpus} GPUs: " + ("fits" if not problems else "does not fit"))
        for problem in problems:
            print(f"  {problem}")
        return

    import ray

    from depo_ray.cluster import connect

    connect()
    available = ray.cluster_resources()
    problems = resource_problems(needs, available.get("CPU", 0), available.get("GPU", 0))
    if problems:
        raise SystemExit("impossible resources:\n  " + "\n  ".join(problems))
    report = run_pipeline(config, ROOT, args.from_stage)
    print(f"report: {report.resolve()}")


if __name__ == "__main__":
    main()
