"""Math evaluation of any checkpoint (the paper's out-of-domain check): accuracy and mean
generated tokens per problem on GSM8K, MATH, SimulEq or the generated set.

    python jobs/eval_math.py --policy runs/cpu/depo/seed-0/final --output runs/cpu/math/depo
    python jobs/eval_math.py --policy <model> --output <dir> --benchmark gsm8k --path gsm8k_test.jsonl
    ray job submit -- python "$PWD/jobs/eval_math.py" --config configs/cpu_math.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
import json
from pathlib import Path

from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.evaluate.config import MathEvalConfig
from depo_ray.evaluate.math import run_math_evaluation
from depo_ray.models.checks import model_problem

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class MathJob:
    policy: str = ""
    """Model folder (relative to the project root), Hugging Face id or named model to evaluate."""
    output_dir: str = ""
    """Where problems.parquet and summary.json go (relative to the project root)."""
    math: MathEvalConfig = field(default_factory=MathEvalConfig)
    """The benchmark and how it is solved."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with policy, output_dir and math (paths relative to the project root)")
    parser.add_argument("--policy", help="model folder or Hugging Face id")
    parser.add_argument("--output", help="output folder")
    parser.add_argument("--benchmark", help="gsm8k, math, simuleq or generated")
    parser.add_argument("--path", help="local problem file in the benchmark's own format")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    args = parser.parse_args()
    job = load_job_config(MathJob, ROOT, args.config) if args.config else MathJob()
    policy, output_dir = args.policy or job.policy, args.output or job.output_dir
    flags = {"benchmark": args.benchmark, "path": args.path, "limit": args.limit}
    try:
        config = dataclasses.replace(job.math, **{k: v for k, v in flags.items() if v is not None})
    except ValueError as error:
        raise SystemExit(f"config error: {error}") from None
    if not policy or not output_dir:
        raise SystemExit("config error: policy and output_dir (--policy, --output) are required")
    policy, output_dir = model_under_root(ROOT, policy), under_root(ROOT, output_dir)
    config = dataclasses.replace(config, path=under_root(ROOT, config.path) if config.path else None)
    if problem := model_problem(policy, ROOT):
        raise SystemExit(f"policy: {problem}")
    if config.path and not Path(config.path).is_file():
        raise SystemExit(f"path: {config.path} does not exist")

    from depo_ray.cluster import connect

    connect()
    print(json.dumps(run_math_evaluation(config, policy, output_dir), indent=2))
    print(f"results: {output_dir}")


if __name__ == "__main__":
    main()
