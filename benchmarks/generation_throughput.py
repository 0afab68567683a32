"""Generation throughput: the MCTS stage with 1, 2 and 4 workers (each searching
``--trees-per-worker`` tasks at once) against raw vLLM batch generation of the same prompts,
in one run, with the prefix-cache hit rate of each.

Each MCTS run searches the same BabyAI tasks through one PolicyServer replica (vLLM CPU) and
is timed after the replica is ready. The raw baseline then sends every chat prefix of the
trajectories found (the prompts the search produced) to ``vllm.LLM.generate`` in one batch,
with the same sampling settings: the ceiling a search could reach if it never waited on the
environment or on its own sequential turns. The environment's own cost is measured by
replaying the found trajectories with a snapshot after every step (as the search steps):
"env s" is that time scaled to the turns each run stepped, the CPU the environment takes
from the engine on a small machine.

    .venv/bin/python benchmarks/generation_throughput.py --policy runs/demo/bc_model/final --tasks 16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def search(policy: str, output: Path, workers: int, tasks: list[int], args) -> dict:
    from depo_ray.envs import EnvConfig
    from depo_ray.search.generate import GenerateConfig, run_generation
    from depo_ray.search.mcts import SearchConfig
    from depo_ray.serving import EngineConfig
    from depo_ray.serving.router import ServingConfig

    config = GenerateConfig(
        policy=policy, output_dir=str(output), task_ids=tuple(tasks), workers=workers, cpus_per_worker=0.25,
        trees_per_worker=args.trees_per_worker, env=EnvConfig(options={"max_turns": args.max_turns}),
        search=SearchConfig(simulations=args.simulations, children=args.children, max_depth=args.max_turns,
                            temperature=1.0, max_new_tokens=args.max_new_tokens),
        serving=ServingConfig(cpus_per_replica=1, engine=EngineConfig(max_model_len=4096, dtype="float32")),
    )
    return run_generation(config, progress=False)


def prompts_of(folder: Path) -> list[list[dict]]:
    from depo_ray.records import read_records

    prompts = []
    for record in read_records(folder):
        for i, message in enumerate(record.messages):
            if message["role"] == "assistant":
                prompts.append(record.messages[:i])
    return prompts


def env_seconds_per_turn(folder: Path, max_turns: int) -> float:
    """Wall time of one environment turn, snapshot included, replaying the found trajectories."""
    from depo_ray.envs import EnvConfig, make_env
    from depo_ray.records import read_records
    from environments.episode import responses_of

    task_env, turns = make_env(EnvConfig(options={"max_turns": max_turns})), 0
    started = time.perf_counter()
    for record in read_records(folder):
        task_env.env.reset(options=task_env.reset_options(int(record.task_id)))
        for response in responses_of(record.messages):
            task_env.env.step(response)
            task_env.env.snapshot()
            turns += 1
    return (time.perf_counter() - started) / max(1, turns)


def raw_vllm(policy: str, prompts: list[list[dict]], max_new_tokens: int) -> dict:
    from vllm import SamplingParams

    from depo_ray.models import load_tokenizer
    from depo_ray.serving import EngineConfig, make_llm
    from depo_ray.serving.server import prefix_cache_counts
    from depo_ray.tokens import prompt_ids

    tokenizer = load_tokenizer(policy)
    llm = make_llm(policy, EngineConfig(max_model_len=4096, dtype="float32"))
    requests = [{"prompt_token_ids": prompt_ids(tokenizer, p)} for p in prompts]
    started = time.perf_counter()
    outputs = llm.generate(requests, SamplingParams(temperature=1.0, max_tokens=max_new_tokens), use_tqdm=False)
    seconds = time.perf_counter() - started
    cache = prefix_cache_counts()
    return {"seconds": seconds, "generated_tokens": sum(len(o.outputs[0].token_ids) for o in outputs), "turns": len(prompts),
            "prefix_cache_hit_rate": cache["hits"] / max(1, cache["queries"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder (a BC-trained tiny model)")
    parser.add_argument("--tasks", type=int, default=16, help="tasks from the 4 easiest BabyAI levels")
    parser.add_argument("--workers", default="1,2,4", help="MCTS worker counts to measure, comma-separated")
    parser.add_argument("--trees-per-worker", type=int, default=8)
    parser.add_argument("--simulations", type=int, default=4)
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    import ray

    from depo_ray.cluster import connect

    policy = str(Path(args.policy).resolve())
    tasks = [level + 40 * (100 + seed) for seed in range((args.tasks + 3) // 4) for level in range(4)][: args.tasks]
    worker_counts = [int(w) for w in args.workers.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        connect(num_cpus=2, fresh=True)
        for workers in worker_counts:
            rows[f"MCTS, {workers} worker{'s' * (workers > 1)}"] = search(policy, Path(folder) / f"w{workers}", workers, tasks, args)
        ray.shutdown()
        first = Path(folder) / f"w{worker_counts[0]}"
        per_turn = env_seconds_per_turn(first, args.max_turns)
        rows["raw vLLM batch"] = raw_vllm(policy, prompts_of(first), args.max_new_tokens)
    raw = rows["raw vLLM batch"]["generated_tokens"] / rows["raw vLLM batch"]["seconds"]
    print(f"{args.tasks} BabyAI tasks, {args.simulations} simulations x {args.children} children, "
          f"{args.trees_per_worker} trees per worker, 1 vLLM CPU replica; one env turn takes {1000 * per_turn:.2f} ms")
    print(f"{'':20}{'seconds':>9}{'turns/s':>9}{'tokens/s':>10}{'vs raw':>8}{'cache hits':>12}{'env s':>8}{'vs raw w/o env':>16}")
    for name, row in rows.items():
        tokens_per_s = row["generated_tokens"] / row["seconds"]
        env = per_turn * row["turns"] if name.startswith("MCTS") else 0.0
        # The ratio if the environment's turns cost the engine no CPU (an upper bound on what
        # moving the environment elsewhere could give on this machine).
        without_env = row["generated_tokens"] / max(1e-9, row["seconds"] - env) / raw
        print(f"{name:20}{row['seconds']:>9.1f}{row['turns'] / row['seconds']:>9.2f}{tokens_per_s:>10.1f}"
              f"{tokens_per_s / raw:>7.2f}x{row['prefix_cache_hit_rate']:>12.2f}{env:>8.1f}{without_env:>15.2f}x")


if __name__ == "__main__":
    main()
