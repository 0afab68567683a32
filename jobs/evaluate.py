"""Greedy evaluation of any policy on a pipeline config's held-out tasks, outside the pipeline:
a pretrained model zero-shot, or a checkpoint from elsewhere, measured exactly like the
evaluate stage (Succ, T@All, S@All, tokens per turn, ...).

    python jobs/evaluate.py --pipeline configs/smollm2_pipeline.yaml --policy smollm2-135m-instruct \
        --output runs/smollm2/zero-shot
    python jobs/evaluate.py --policy runs/cpu/bc/seed-0/final --output runs/cpu/eval-large --task-set large
    ray job submit -- python "$PWD/jobs/evaluate.py" --policy ... --output ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from depo_ray.config import ConfigError, load_job_config, model_under_root, under_root
from depo_ray.env_setup import paths_under
from depo_ray.evaluate.config import TASK_SETS, evaluation_tasks
from depo_ray.models.checks import model_problem
from depo_ray.models.sources import ModelSourceError
from depo_ray.pipeline.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="configs/cpu_pipeline.yaml",
                        help="pipeline config whose env and evaluate section are used (relative to the project root)")
    parser.add_argument("--policy", required=True, help="model folder, Hugging Face id or named model")
    parser.add_argument("--output", required=True, help="output folder (a finished one is read back, not re-run)")
    parser.add_argument("--task-set", choices=tuple(TASK_SETS),
                        help="play this task set instead of the config's evaluate.task_ids or task_set")
    parser.add_argument("--method", default="policy", help="name in the summary and the dashboard's metrics")
    args = parser.parse_args()
    pipeline = load_job_config(PipelineConfig, ROOT, args.pipeline)
    output_dir = under_root(ROOT, args.output)
    try:
        env = paths_under(pipeline.env, ROOT)
        evaluate = dataclasses.replace(pipeline.evaluate, **({"task_set": args.task_set, "task_ids": None} if args.task_set else {}))
        tasks = evaluation_tasks(evaluate, env)
        policy = model_under_root(ROOT, args.policy)
    except (ConfigError, ValueError) as error:
        raise SystemExit(f"config error: {error}") from None
    except ModelSourceError as error:
        raise SystemExit(f"policy: {args.policy}: {error}") from None
    if problem := model_problem(policy, ROOT):
        raise SystemExit(f"policy: {problem}")
    print(f"evaluating {policy} on {len(tasks)} tasks -> {output_dir}")

    from depo_ray.cluster import connect
    from depo_ray.evaluate.episodes import run_evaluation

    connect()
    print(json.dumps(run_evaluation(evaluate, policy, env, output_dir, method=args.method), indent=2))
    print(f"results: {output_dir}")


if __name__ == "__main__":
    main()
