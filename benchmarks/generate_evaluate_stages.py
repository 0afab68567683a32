"""The CPU default's generate and evaluate stages under serving settings side by side: each
setting runs ``run_generation`` and ``run_evaluation`` as the pipeline does (engine start-up
included), one after the other in this process on one local cluster, with the same policy,
and the table shows their times and a SHA-256 of what they produced, so a faster setting is
seen to produce the same trajectories and evaluation outcomes.

    .venv/bin/python benchmarks/generate_evaluate_stages.py --policy runs/cpu/bootstrap/bc_model/round-2/final \\
        --setting "one replica:generate.serving.replicas=1,generate.serving.cpus_per_replica=1" \\
        --setting "two replicas:generate.serving.replicas=2,generate.serving.cpus_per_replica=0.5"

A setting is ``name:key=value,key=value`` with the pipeline config's dotted keys under
``generate`` and ``evaluate`` (``jobs/pipeline.py --set`` takes the same keys); the other keys
come from ``--config``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def trajectories_digest(folder: Path) -> tuple[int, str]:
    """How many trajectories, and a SHA-256 of every task's chats in task order."""
    from depo_ray.records import read_records

    records = sorted(read_records(folder), key=lambda r: (int(r.task_id), json.dumps(r.messages)))
    text = json.dumps([(r.task_id, r.messages) for r in records])
    return len(records), hashlib.sha256(text.encode()).hexdigest()


def outcomes_digest(folder: Path) -> str:
    """A SHA-256 of every task's success, turns, tokens and invalid actions."""
    from depo_ray.evaluate.episodes import read_results

    rows = sorted((r.task_id, r.success, r.turns, r.generated_tokens, r.invalid_actions) for r in read_results(folder))
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def run_setting(config, policy: str, folder: Path) -> dict:
    from depo_ray.evaluate.episodes import run_evaluation
    from depo_ray.search.generate import run_generation

    started = time.perf_counter()
    totals = run_generation(config.generate, policy, config.env, folder / "trajectories", progress=False)
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = run_evaluation(config.evaluate, policy, config.env, folder / "eval", progress=False)
    evaluate_s = time.perf_counter() - started
    count, digest = trajectories_digest(folder / "trajectories")
    return {"generate_s": generate_s, "generate_startup_s": totals["startup_seconds"], "search_s": totals["seconds"],
            "trajectories": count, "trajectories_sha": digest, "evaluate_s": evaluate_s,
            "evaluate_startup_s": summary["engine_startup_seconds"], "succ": summary["succ"],
            "outcomes_sha": outcomes_digest(folder / "eval")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder that searches and plays (π_BC)")
    parser.add_argument("--config", default="configs/cpu_pipeline.yaml", help="pipeline config the settings start from")
    parser.add_argument("--setting", action="append", required=True, help="name:key=value,key=value (repeatable)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of every setting, alternating settings")
    args = parser.parse_args()

    from depo_ray.config import load_job_config
    from depo_ray.pipeline.config import PipelineConfig

    policy = Path(args.policy).resolve()
    if not (policy / "config.json").is_file():
        sys.exit(f"--policy {args.policy}: no config.json there (a policy folder is expected)")
    settings = {}
    for text in args.setting:
        name, _, pairs = text.partition(":")
        overrides = [pair for pair in pairs.split(",") if pair]
        if not name or any(not pair.startswith(("generate.", "evaluate.")) for pair in overrides):
            sys.exit(f"--setting {text!r}: expected name:key=value,... with keys under generate. or evaluate.")
        settings[name] = load_job_config(PipelineConfig, ROOT, args.config, overrides=overrides)

    from depo_ray.cluster import connect

    connect(num_cpus=2, fresh=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for name, config in settings.items():
                row = run_setting(config, str(policy), Path(folder) / f"{name}-{repeat}")
                rows.append({"setting": name, "repeat": repeat, **row})
                print(json.dumps(rows[-1]), flush=True)
    print("\n| setting | run | generate s (start-up) | search s | trajectories (SHA-256) | evaluate s (start-up) "
          "| Succ | outcomes (SHA-256) |\n|---|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['repeat'] + 1} | {r['generate_s']:.1f} ({r['generate_startup_s']:.1f}) | {r['search_s']:.1f} "
              f"| {r['trajectories']} ({r['trajectories_sha'][:8]}…) | {r['evaluate_s']:.1f} ({r['evaluate_startup_s']:.1f}) "
              f"| {r['succ']:.3f} | {r['outcomes_sha'][:8]}… |")


if __name__ == "__main__":
    main()
