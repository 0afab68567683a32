"""Generation throughput: the MCTS stage with 1, 2 and 4 workers, each searching
``--trees-per-worker`` tasks at once and sending their requests to its replica in
``--batches-per-worker`` batches, against raw vLLM batch generation of the same prompts, in
one run, with the prefix-cache hit rate of each.

Each MCTS run searches the same BabyAI tasks through one PolicyServer replica (vLLM CPU) and
is timed after the replica is ready. The raw baseline then sends every chat prefix of the
trajectories found (the prompts the search produced) to ``vllm.LLM.generate`` in one batch,
with the same sampling settings: the ceiling a search could reach if it never waited on the
environment or on its own sequential turns.

Where the CPU goes: a sampler reads every process's CPU time (every thread's, in a PolicyServer)
from the moment the replica is ready until the search ends (or while the raw batch generates),
and sums it by role: the vLLM engine (its EngineCore and Worker
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.serving.engine import CPU_ENGINES, EngineConfig  # noqa: E402 (after the path is set)
from depo_ray.serving.in_process import ENGINE_THREAD  # noqa: E402

ROLES = {"VLLM::": "engine", "ray::PolicyServ": "server", "ray::ColocatedS": "server", "ray::PolicyRout": "router", "ray::MCTSWorker": "search"}
SERVING_ROLES = ("server", "router", "search", "driver")


def role_of(process) -> str:
    if process.pid == os.getpid():
        return "driver"  # the stage's driver loop and this sampler; the raw baseline's front end
    name = process.info["name"] or ""
    return next((role for prefix, role in ROLES.items() if name.startswith(prefix)), "other")


class CpuSampler:
    """CPU seconds by role, per sampling interval; ``seconds(since)`` sums the intervals that
    ended after ``since`` (a ``time.perf_counter()`` moment), so the search is counted from
    the moment its replica was ready and the engine's start-up is left out."""

    def __init__(self, interval_s: float = 0.25):
        self.interval_s = interval_s
        self.intervals: list[tuple[float, dict[str, float]]] = []
        """(when the interval ended, CPU seconds per role during it)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def seconds(self, since: float = float("-inf")) -> dict[str, float]:
        total: dict[str, float] = {}
        for ended, by_role in self.intervals:
            if ended > since:
                for role, cpu in by_role.items():
                    total[role] = total.get(role, 0.0) + cpu
        return total

    def _sample(self) -> dict[tuple[int, int, str], float]:
        """CPU seconds so far per (process, thread, role): whole processes (thread 0), except a
        PolicyServer, counted thread by thread and split into its engine threads (``cpu_engine:
        in_process``) and the rest. Per thread, so a thread (or a previous server) ending while
        it is sampled takes only its own last interval with it, not another role's seconds."""
        import psutil

        sample = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if times is None:
                continue
            role = role_of(process)
            if role == "server":
                for tid, (name, cpu) in thread_seconds(process.pid).items():
                    sample[(process.pid, tid, "engine" if name == ENGINE_THREAD else "server")] = cpu
            else:
                sample[(process.pid, 0, role)] = times.user + times.system
        return sample

    def _run(self) -> None:
        before = self._sample()
        while not self._stop.wait(self.interval_s):
            now, by_role = self._sample(), {}
            for key, cpu in now.items():
                by_role[key[2]] = by_role.get(key[2], 0.0) + cpu - before.get(key, 0.0)
            self.intervals.append((time.perf_counter(), by_role))
            before = now


def thread_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """Each live thread of a process: its name and CPU seconds (the in-process engine's thread
    names itself ``ENGINE_THREAD``, and the compute threads it starts inherit the name)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        threads[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))  # utime + stime
    return threads


def generate_config(trees: int, batches: int, tasks: list[int], args, replicas: int = 1):
    from depo_ray.search.config import GenerateConfig
    from depo_ray.search.mcts import SearchConfig
    from depo_ray.serving.config import ServingConfig

    return GenerateConfig(
        task_ids=tuple(tasks), cpus_per_worker=0.25, trees_per_worker=trees, batches_per_worker=batches,
        search=SearchConfig(simulations=args.simulations, children=args.children, max_depth=args.max_turns,
                            temperature=1.0, max_new_tokens=args.max_new_tokens),
        serving=ServingConfig(replicas=replicas, cpus_per_replica=1 / replicas, engine=EngineConfig(max_model_len=4096, dtype="float32",
                                                                      cpu_engine=args.cpu_engine)),
    )


def search(policy: str, output: Path, replicas: int, workers: int, trees: int, batches: int, tasks: list[int], args) -> dict:
    from depo_ray.env_setup import EnvConfig
    from depo_ray.search.generate import run_generation

    config = replace(generate_config(trees, batches, tasks, args, replicas), workers=workers)
    with CpuSampler() as cpu:
        called = time.perf_counter()
        row = run_generation(config, policy, EnvConfig(options={"max_turns": args.max_turns}), output, progress=False)
    return {**row, "cpu": cpu.seconds(since=called + row["startup_seconds"])}


class LocalClient:
    """Batches to a PolicyServer object in this process, through an event loop on a thread of its
    own: the search's requests reach the engine with no Ray call and no serialization."""

    def __init__(self, server):
        import asyncio

        from functools import partial

        from depo_ray.tokens import piece_tokenizer, prompt_ids

        self.server, self.encode = server, partial(prompt_ids, piece_tokenizer(server.tokenizer))
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def submit_batch(self, requests):
        import asyncio

        from depo_ray.serving.client import as_turns

        turns = as_turns(requests, self.encode)
        return asyncio.run_coroutine_threadsafe(self.server.generate_batch(turns), self._loop)

    def close(self) -> None:
        """The engine stays with the searcher."""


class ColocatedSearcher:
    """Shape (b) of the issue: search trees in the process that owns the engine (a Ray actor
    holding a PolicyServer object and an MCTSWorker that calls it directly)."""

    def __init__(self, name: str, policy: str, env, config):
        from depo_ray.search.worker import MCTSWorker
        from depo_ray.serving.server import PolicyServer

        server = PolicyServer(policy, config.serving.engine)
        self.worker = MCTSWorker(name, env, config.search, LocalClient(server), policy, policy, config.split, config.trees_per_worker,
                                 config.batches_per_worker)

    def ready(self) -> bool:
        return True

    def run(self, tasks, results) -> int:
        return self.worker.run(tasks, results)


def colocated(policy: str, output: Path, searchers: int, trees: int, batches: int, tasks: list[int], args) -> dict:
    """Like ``search``, with ``searchers`` co-located searchers (an engine each) in place of
    workers calling one replica."""
    import ray
    from ray.util.queue import Queue

    from depo_ray.env_setup import EnvConfig
    from depo_ray.records import write_shard
    from depo_ray.search.generate import shard_for
    from depo_ray.search.worker import TaskDone, TaskFailed

    config, env = generate_config(trees, batches, tasks, args), EnvConfig(options={"max_turns": args.max_turns})
    engine = replace(config.serving.engine, cpu_engine="in_process")  # the engine must live in the searcher's process
    config = replace(config, serving=replace(config.serving, engine=engine))
    actor = ray.remote(ColocatedSearcher)
    with CpuSampler() as cpu:
        # one CPU between them, as between replicas: Ray then gives each engine one torch thread
        actors = [actor.options(num_cpus=1 / searchers, name=f"colocated-{i}").remote(f"colocated-{i}", policy, env, config)
                  for i in range(searchers)]
        ray.get([a.ready.remote() for a in actors])
        started = time.perf_counter()
        queue, results = Queue(), Queue()
        for task_id in tasks:
            queue.put(task_id)
        runs = [a.run.remote(queue, results) for a in actors]
        row = {"tasks": 0, "turns": 0, "generated_tokens": 0}
        while row["tasks"] < len(tasks):
            message = results.get()
            if isinstance(message, TaskDone):
                write_shard(message.records, shard_for(output, message.task_id))
                row["tasks"] += 1
                row["turns"] += message.stats.turns
                row["generated_tokens"] += message.stats.generated_tokens
            elif isinstance(message, TaskFailed):
                raise RuntimeError(f"co-located search failed: {message}")
        ray.get(runs)
        row["seconds"] = time.perf_counter() - started
        counts = ray.get([a.__ray_call__.remote(lambda self: self.worker.client.server.prefix_cache()) for a in actors])
        cache = {key: sum(c[key] for c in counts) for key in ("hits", "queries")}
        for a in actors:
            ray.kill(a)
    return {**row, "prefix_cache_hit_rate": cache["hits"] / max(1, cache["queries"]), "cpu": cpu.seconds(since=started)}


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
            "prefix_cache_hit_rate": cache["hits"] / max(1, cache["queries"]), "cpu": cpu.seconds()}


def table(rows: dict[str, dict], per_turn: float) -> str:
    raw = rows["raw vLLM batch"]
    raw_tokens_per_s = raw["generated_tokens"] / raw["seconds"]
    raw_per_engine_cpu = raw["generated_tokens"] / max(1e-9, raw["cpu"].get("engine", 0.0))
    lines = ["| | seconds | turns/s | tokens/s | vs raw | cache hits | env s | engine CPU s | serving CPU s "
             "| serving CPU ms per turn | tokens per engine CPU s, vs raw |", "|---|" + "---:|" * 10]
    for name, row in rows.items():
        tokens_per_s = row["generated_tokens"] / row["seconds"]
        env = per_turn * row["turns"] if name != "raw vLLM batch" else 0.0
        engine = row["cpu"].get("engine", 0.0)
        serving = sum(row["cpu"].get(role, 0.0) for role in SERVING_ROLES)
        lines.append(f"| {name} | {row['seconds']:.1f} | {row['turns'] / row['seconds']:.1f} | {tokens_per_s:.0f} "
                     f"| {tokens_per_s / raw_tokens_per_s:.2f}x | {row['prefix_cache_hit_rate']:.2f} | {env:.1f} "
                     f"| {engine:.1f} | {serving:.1f} | {1000 * serving / row['turns']:.1f} | {row['generated_tokens'] / max(1e-9, engine) / raw_per_engine_cpu:.2f}x |")
    # which part of the serving stack a turn's CPU goes to: where to look when it moves
    lines += ["", "| serving CPU ms per turn, by role | " + " | ".join(SERVING_ROLES) + " |",
              "|---|" + "---:|" * len(SERVING_ROLES)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{1000 * row['cpu'].get(role, 0.0) / row['turns']:.1f}"
                                                 for role in SERVING_ROLES) + " |")
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
    parser.add_argument("--replicas", default="1",
                        help="vLLM replicas the MCTS workers share (splitting one CPU between them), comma-separated")
    parser.add_argument("--colocated", default="",
                        help="also search with the trees in the engine's own process (the issue's shape (b)): "
                             "searcher counts, comma-separated, each with an engine of its own; every "
                             "--trees-per-worker and --batches-per-worker setting is run")
    args = parser.parse_args()

    import ray

    from depo_ray.cluster import connect

    policy = Path(args.policy).resolve()
    if not (policy / "config.json").is_file():
        sys.exit(f"--policy {args.policy}: no config.json there (a policy folder is expected)")
    tasks = [level + 40 * (100 + seed) for seed in range((args.tasks + 3) // 4) for level in range(4)][: args.tasks]
    settings = [(int(r), int(w), int(t), int(b)) for b in args.batches_per_worker.split(",")
                for t in args.trees_per_worker.split(",") for w in args.workers.split(",") for r in args.replicas.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        connect(num_cpus=2, fresh=True)
        for replicas, workers, trees, batches in settings:
            name = (f"MCTS, {replicas} replica{'s' * (replicas > 1)}, {workers} worker{'s' * (workers > 1)} x {trees} "
                    f"tree{'s' * (trees > 1)}, {batches} batch{'es' * (batches > 1)}")
            rows[name] = search(str(policy), Path(folder) / f"r{replicas}w{workers}t{trees}b{batches}", replicas, workers,
                                trees, batches, tasks, args)
            print(name, f"{rows[name]['seconds']:.1f} s", flush=True)
        shapes = list(dict.fromkeys((trees, batches) for *_, trees, batches in settings))
        for searchers, (trees, batches) in [(int(c), shape) for c in filter(None, args.colocated.split(",")) for shape in shapes]:
            name = (f"co-located, {searchers} searcher{'s' * (searchers > 1)} x {trees} tree{'s' * (trees > 1)}, "
                    f"{batches} batch{'es' * (batches > 1)}")
            rows[name] = colocated(str(policy), Path(folder) / f"c{searchers}t{trees}b{batches}", searchers, trees,
                                   batches, tasks, args)
            print(name, f"{rows[name]['seconds']:.1f} s", flush=True)
        ray.shutdown()
        first = Path(folder) / "r{}w{}t{}b{}".format(*settings[0])
        per_turn = env_seconds_per_turn(first, args.max_turns)
        rows["raw vLLM batch"] = raw_vllm(str(policy), prompts_of(first), args.max_new_tokens)
    print(f"\n{args.tasks} BabyAI tasks, {args.simulations} simulations x {args.children} children, turn limit "
          f"{args.max_turns}, vLLM CPU replicas sharing one CPU (co-located: an engine per searcher); one environment "
          f"turn takes {1000 * per_turn:.2f} ms\n")
    print(table(rows, per_turn))


if __name__ == "__main__":
    main()
