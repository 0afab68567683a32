"""Generation throughput: the MCTS stage with 1 and 2 workers against raw vLLM batch
generation of the same prompts, in one run.

Each MCTS run searches the same BabyAI tasks through one PolicyServer replica (vLLM CPU) and
is timed after the replica is ready. The raw baseline then sends every chat prefix of the
trajectories found (the prompts the search produced) to ``vllm.LLM.generate`` in one batch,
with the same sampling settings: the ceiling a search could reach if it never waited on the
environment or on its own sequential turns.

    .venv/bin/python benchmarks/generation_throughput.py --policy runs/demo/bc_model/final --tasks 8
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
        env=EnvConfig(options={"max_turns": args.max_turns}),
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


def raw_vllm(policy: str, prompts: list[list[dict]], max_new_tokens: int) -> dict:
    from vllm import SamplingParams

    from depo_ray.models import load_tokenizer
    from depo_ray.serving import EngineConfig, make_llm
    from depo_ray.tokens import prompt_ids

    tokenizer = load_tokenizer(policy)
    llm = make_llm(policy, EngineConfig(max_model_len=4096, dtype="float32"))
    requests = [{"prompt_token_ids": prompt_ids(tokenizer, p)} for p in prompts]
    started = time.perf_counter()
    outputs = llm.generate(requests, SamplingParams(temperature=1.0, max_tokens=max_new_tokens), use_tqdm=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "generated_tokens": sum(len(o.outputs[0].token_ids) for o in outputs), "turns": len(prompts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder (a BC-trained tiny model)")
    parser.add_argument("--tasks", type=int, default=8, help="tasks from the 4 easiest BabyAI levels")
    parser.add_argument("--simulations", type=int, default=4)
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    import ray

    from depo_ray.cluster import connect

    policy = str(Path(args.policy).resolve())
    tasks = [level + 40 * (100 + seed) for seed in range((args.tasks + 3) // 4) for level in range(4)][: args.tasks]
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        connect(num_cpus=2, fresh=True)
        for workers in (1, 2):
            rows[f"MCTS, {workers} worker{'s' * (workers > 1)}"] = search(policy, Path(folder) / f"w{workers}", workers, tasks, args)
        ray.shutdown()
        rows["raw vLLM batch"] = raw_vllm(policy, prompts_of(Path(folder) / "w1"), args.max_new_tokens)
    raw = rows["raw vLLM batch"]["generated_tokens"] / rows["raw vLLM batch"]["seconds"]
    print(f"{args.tasks} BabyAI tasks, {args.simulations} simulations x {args.children} children, 1 vLLM CPU replica")
    print(f"{'':20}{'seconds':>9}{'turns/s':>9}{'tokens/s':>10}{'vs raw':>8}")
    for name, row in rows.items():
        tokens_per_s = row["generated_tokens"] / row["seconds"]
        print(f"{name:20}{row['seconds']:>9.1f}{row['turns'] / row['seconds']:>9.2f}{tokens_per_s:>10.1f}{tokens_per_s / raw:>7.2f}x")


if __name__ == "__main__":
    main()
