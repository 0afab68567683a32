"""Generation throughput: the MCTS stage with 1, 2 and 4 workers, each searching
``--trees-per-worker`` tasks at once and sending their requests to its replica in
``--batches-per-worker`` batches, against raw vLLM batch generation of the same prompts, in
one run, with the prefix-cache hit rate of each.

Each MCTS run searches the same BabyAI tasks through one PolicyServer replica (vLLM CPU) and
is timed after the replica is ready. The raw baseline then sends every chat prefix of the
trajectories found (the prompts the search produced) to ``vllm.LLM.generate`` in one batch,
with the same sampling settings: the ceiling a search could reach if it never waited on the
environment or on its own sequential turns.

Where the CPU goes: a sampler reads every process's CPU time while MCTS workers are alive (or
while the raw batch generates) and sums it by role: the vLLM engine (its EngineCore and Worker
processes; with ``--cpu-engine in_process``, the PolicyServer's threads named after the engine's,
which its compute threads inherit), and the serving stack (the PolicyServer front end, the router, the MCTS workers,
and this process: the stage's driver loop and the sampler itself, or the raw batch's front
end). "tokens per engine CPU s" against raw is the
scheduling's ratio with the competition for the CPU taken out: how well the engine's own work
is batched. "env s" is the environment's share, measured by replaying the found trajectories
with a snapshot after every step and scaled to the turns each run stepped.

    .venv/bin/python benchmarks/generation_throughput.py --policy runs/cpu/bootstrap/policy --tasks 64
"""

from __future__ import annotations

import argparse
import sys
import os
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.serving.engine import CPU_ENGINES, EngineConfig  # noqa: E402 (after the path is set)

ROLES = {"VLLM::": "engine", "ray::PolicyServ": "server", "ray::PolicyRout": "router", "ray::MCTSWorker": "search"}


def role_of(process) -> str:
    if process.pid == os.getpid():
        return "driver"  # the stage's driver loop and this sampler; the raw baseline's front end
    name = process.info["name"] or ""
    return next((role for prefix, role in ROLES.items() if name.startswith(prefix)), "other")


class CpuSampler:
    """CPU seconds by role, counted only over sampling intervals where ``counting()`` is true
    (an MCTS worker is alive, or always), so engine start-up is left out."""

    def __init__(self, counting=lambda roles: True, interval_s: float = 0.25):
        self.counting, self.interval_s = counting, interval_s
        self.seconds: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> dict[tuple[int, str], float]:
        """CPU seconds so far per (process, role); a PolicyServer whose engine runs in its own
        process (``cpu_engine: in_process``) is split into its engine threads and the rest."""
        import psutil

        sample = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if times is None:
                continue
            role, cpu = role_of(process), times.user + times.system
            if role == "server":
                engine = engine_thread_seconds(process.pid)
                sample[(process.pid, "engine")] = engine
                cpu -= engine
            sample[(process.pid, role)] = cpu
        return sample

    def _run(self) -> None:
        before = self._sample()
        while not self._stop.wait(self.interval_s):
            now = self._sample()
            if self.counting({role for _, role in now}):
                for key, cpu in now.items():
                    self.seconds[key[1]] = self.seconds.get(key[1], 0.0) + cpu - before.get(key, 0.0)
            before = now


def engine_thread_seconds(pid: int) -> float:
    """CPU seconds of a process's threads named as the in-process engine's (the engine thread
    and the compute threads it started, which inherit its name)."""
    from depo_ray.serving.in_process import ENGINE_THREAD

    seconds = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "comm").read_text().strip() == ENGINE_THREAD:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except OSError:  # the thread ended meanwhile
            continue
    return seconds


def search(policy: str, output: Path, workers: int, trees: int, batches: int, tasks: list[int], args) -> dict:
    from depo_ray.env_setup import EnvConfig
    from depo_ray.search.generate import run_generation
    from depo_ray.search.config import GenerateConfig
    from depo_ray.search.mcts import SearchConfig
    from depo_ray.serving.config import ServingConfig

    config = GenerateConfig(
        task_ids=tuple(tasks), workers=workers, cpus_per_worker=0.25, trees_per_worker=trees, batches_per_worker=batches,
        search=SearchConfig(simulations=args.simulations, children=args.children, max_depth=args.max_turns,
                            temperature=1.0, max_new_tokens=args.max_new_tokens),
        serving=ServingConfig(cpus_per_replica=1, engine=EngineConfig(max_model_len=4096, dtype="float32",
                                                                      cpu_engine=args.cpu_engine)),
    )
    with CpuSampler(counting=lambda roles: "search" in roles) as cpu:
        row = run_generation(config, policy, EnvConfig(options={"max_turns": args.max_turns}), output, progress=False)
    return {**row, "cpu": cpu.seconds}


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
    from depo_ray.env_setup import EnvConfig, make_env
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

    from depo_ray.models.loading import load_tokenizer
    from depo_ray.serving import make_llm
    from depo_ray.serving.server import prefix_cache_counts
    from depo_ray.tokens import prompt_ids

    tokenizer = load_tokenizer(policy)
    llm = make_llm(policy, EngineConfig(max_model_len=4096, dtype="float32"))
    requests = [{"prompt_token_ids": prompt_ids(tokenizer, p)} for p in prompts]
    try:
        with CpuSampler() as cpu:
            started = time.perf_counter()
            outputs = llm.generate(requests, SamplingParams(temperature=1.0, max_tokens=max_new_tokens), use_tqdm=False)
            seconds = time.perf_counter() - started
        cache = prefix_cache_counts()
    finally:  # otherwise the engine's processes outlive this one
        llm.llm_engine.engine_core.shutdown()
    return {"seconds": seconds, "generated_tokens": sum(len(o.outputs[0].token_ids) for o in outputs), "turns": len(prompts),
            "prefix_cache_hit_rate": cache["hits"] / max(1, cache["queries"]), "cpu": cpu.seconds}


def table(rows: dict[str, dict], per_turn: float) -> str:
    raw = rows["raw vLLM batch"]
    raw_tokens_per_s = raw["generated_tokens"] / raw["seconds"]
    raw_per_engine_cpu = raw["generated_tokens"] / max(1e-9, raw["cpu"].get("engine", 0.0))
    lines = ["| | seconds | turns/s | tokens/s | vs raw | cache hits | env s | engine CPU s | serving CPU s "
             "| serving CPU ms per turn | tokens per engine CPU s, vs raw |", "|---|" + "---:|" * 10]
    for name, row in rows.items():
        tokens_per_s = row["generated_tokens"] / row["seconds"]
        env = per_turn * row["turns"] if name.startswith("MCTS") else 0.0
        engine = row["cpu"].get("engine", 0.0)
        serving = sum(row["cpu"].get(role, 0.0) for role in ("server", "router", "search", "driver"))
        lines.append(f"| {name} | {row['seconds']:.1f} | {row['turns'] / row['seconds']:.1f} | {tokens_per_s:.0f} "
                     f"| {tokens_per_s / raw_tokens_per_s:.2f}x | {row['prefix_cache_hit_rate']:.2f} | {env:.1f} "
                     f"| {engine:.1f} | {serving:.1f} | {1000 * serving / row['turns']:.1f} | {row['generated_tokens'] / max(1e-9, engine) / raw_per_engine_cpu:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy folder (a BC-trained tiny model)")
    parser.add_argument("--tasks", type=int, default=64, help="tasks from the 4 easiest BabyAI levels")
    parser.add_argument("--workers", default="1,2,4", help="MCTS worker counts to measure, comma-separated")
    parser.add_argument("--trees-per-worker", default="1,16",
                        help="trees each worker searches at once, comma-separated (every pair with --workers is run)")
    parser.add_argument("--batches-per-worker", default="2",
                        help="batches each worker's requests go out in, comma-separated (every setting is run)")
    parser.add_argument("--simulations", type=int, default=4)
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--cpu-engine", choices=CPU_ENGINES, default=EngineConfig().cpu_engine,
                        help="where the replica's engine runs (serving.engine.cpu_engine)")
    args = parser.parse_args()

    import ray

    from depo_ray.cluster import connect

    policy = Path(args.policy).resolve()
    if not (policy / "config.json").is_file():
        sys.exit(f"--policy {args.policy}: no config.json there (a policy folder is expected)")
    tasks = [level + 40 * (100 + seed) for seed in range((args.tasks + 3) // 4) for level in range(4)][: args.tasks]
    settings = [(int(w), int(t), int(b)) for b in args.batches_per_worker.split(",")
                for t in args.trees_per_worker.split(",") for w in args.workers.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        connect(num_cpus=2, fresh=True)
        for workers, trees, batches in settings:
            name = (f"MCTS, {workers} worker{'s' * (workers > 1)} x {trees} tree{'s' * (trees > 1)}, "
                    f"{batches} batch{'es' * (batches > 1)}")
            rows[name] = search(str(policy), Path(folder) / f"w{workers}t{trees}b{batches}", workers, trees, batches, tasks, args)
            print(name, f"{rows[name]['seconds']:.1f} s", flush=True)
        ray.shutdown()
        first = Path(folder) / "w{}t{}b{}".format(*settings[0])
        per_turn = env_seconds_per_turn(first, args.max_turns)
        rows["raw vLLM batch"] = raw_vllm(str(policy), prompts_of(first), args.max_new_tokens)
    print(f"\n{args.tasks} BabyAI tasks, {args.simulations} simulations x {args.children} children, turn limit "
          f"{args.max_turns}, 1 vLLM CPU replica; one environment turn takes {1000 * per_turn:.2f} ms\n")
    print(table(rows, per_turn))


if __name__ == "__main__":
    main()
