"""Math evaluation of any checkpoint (the paper's out-of-domain check): accuracy and mean
generated tokens per problem on GSM8K, MATH, SimulEq or the generated set.

    python jobs/eval_math.py --policy runs/cpu/depo/seed-0/final --output runs/cpu/math/depo
    python jobs/eval_math.py --policy <model> --output <dir> --benchmark gsm8k --path gsm8k_test.jsonl
    ray job submit -- python "$PWD/jobs/eval_math.py" --config configs/cpu_math.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from depo_ray.config import load_job_config, model_under_root, under_root
from depo_ray.evaluate.config import MathEvalConfig
from depo_ray.evaluate.math import run_math_evaluation
from depo_ray.models.checks import model_problem

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML MathEvalConfig (paths relative to the project root)")
    parser.add_argument("--policy", help="model folder or Hugging Face id")
    parser.add_argument("--output", help="output folder")
    parser.add_argument("--benchmark", help="gsm8k, math, simuleq or generated")
    parser.add_argument("--path", help="local problem file in the benchmark's own format")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    args = parser.parse_args()
    config = load_job_config(MathEvalConfig, ROOT, args.config) if args.config else MathEvalConfig()
    flags = {"policy": args.policy, "output_dir": args.output, "benchmark": args.benchmark, "path": args.path,
             "limit": args.limit}
    try:
        config = dataclasses.replace(config, **{k: v for k, v in flags.items() if v is not None})
    except ValueError as error:
        raise SystemExit(f"config error: {error}") from None
    if not config.policy or not config.output_dir:
        raise SystemExit("config error: policy and output_dir (--policy, --output) are required")
    config = dataclasses.replace(config, policy=model_under_root(ROOT, config.policy), output_dir=under_root(ROOT, config.output_dir),
                                 path=under_root(ROOT, config.path) if config.path else None)
    if problem := model_problem(config.policy, ROOT):
        raise SystemExit(f"policy: {problem}")
    if config.path and not Path(config.path).is_file():
        raise SystemExit(f"path: {config.path} does not exist")

    from depo_ray.cluster import connect

    connect()
    print(json.dumps(run_math_evaluation(config), indent=2))
    print(f"results: {config.output_dir}")


if __name__ == "__main__":
    main()
