"""The generation stage: N MCTS workers share policy-server replicas and write one Parquet
shard per task to ``<output_dir>/task-<id>.parquet``.

Resumable by construction: a task whose shard exists is done and is skipped on re-run; shards
are written atomically, so a crash leaves either a whole shard or none. A worker that dies
has the tasks it was holding put back on the queue and is replaced, up to
``max_worker_restarts`` times per run; one more death stops the stage with ``ActorsKeepDying``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from depo_ray.cluster import ReplaceableActors
from depo_ray.env_setup import EnvConfig, make_env, select_tasks
from depo_ray.records import write_shard
from depo_ray.search.config import GenerateConfig
from depo_ray.search.worker import MCTSWorker, TaskDone, TaskFailed, TaskStarted
from depo_ray.serving.openai_client import EndpointAccess

# Ray loads on first use: the pipeline's recipe imports this module to plan.


def shard_for(output_dir: str | Path, task_id: int) -> Path:
    return Path(output_dir) / f"task-{task_id:06d}.parquet"


class _Metrics:
    """Counters for the Ray dashboard (exported through Ray's metrics agent)."""

    def __init__(self):
        from ray.util.metrics import Counter, Gauge

        self.tasks = Counter("depo_generate_tasks_done", description="MCTS tasks finished")
        self.trajectories = Counter("depo_generate_trajectories", description="Distinct trajectories found")
        self.success = Gauge("depo_generate_success_rate", description="Share of found trajectories that succeed")


def run_generation(config: GenerateConfig, policy: str, env: EnvConfig, output_dir: str | Path, progress: bool = True,
                   router=None) -> dict:
    """Search every pending task of ``env`` with ``policy`` (a model folder or Hugging Face id),
    writing a shard per task in ``output_dir``; returns totals of this run. ``router``: one
    already serving ``policy``, which the caller stops (else one is started and stopped here)."""
    import ray
    from ray.exceptions import RayActorError
    from ray.util.queue import Empty, Queue

    from depo_ray.serving.router import start_router, stop_router

    requested = select_tasks(config.tasks, config.task_ids, make_env(env).held_out)
    todo = [t for t in requested if not shard_for(output_dir, t).exists()]
    totals = {"tasks": 0, "trajectories": 0, "successes": 0, "turns": 0, "generated_tokens": 0, "seconds": 0.0, "startup_seconds": 0.0,
              "skipped": len(requested) - len(todo), "worker_restarts": 0, "failed": []}
    if not todo:
        return totals
    launched = time.perf_counter()
    owned = router is None and not config.teacher
    if owned:  # named policy-router-<suffix>, so operators (and the fault test) can find its replicas
        router = start_router(policy, config.serving)
    running: dict = {}  # each live worker's ``run`` call -> (its name, its actor)
    try:
        tasks, results = Queue(), Queue()
        for task_id in todo:
            tasks.put(task_id)
        worker_class = ray.remote(MCTSWorker)
        backend = router or EndpointAccess.from_environment(config.teacher)

        def start_worker(name: str):
            options = {"num_cpus": config.cpus_per_worker, "max_restarts": 0, "name": name}
            actor = worker_class.options(**options).remote(name, env, config.search, backend, policy,
                                        config.teacher.model if config.teacher else policy, config.split,
                                        config.trees_per_worker, config.batches_per_worker)
            return actor.run.remote(tasks, results), (name, actor)

        # The workers start (imports, environments) while the replicas do; their first lease
        # waits for every replica.
        workers = ReplaceableActors("mcts-worker", start_worker, config.max_worker_restarts)
        running.update(workers.start() for _ in range(config.workers))
        if router:
            ray.get(router.wait_ready.remote())
        started = time.perf_counter()
        totals["startup_seconds"] = started - launched
        holding: dict[str, set[int]] = defaultdict(set)  # tasks each worker took and has not answered yet
        remaining, metrics = set(todo), _Metrics()
        bar = tqdm(total=len(todo), desc="MCTS tasks", disable=not progress)
        while remaining:
            try:
                message = results.get(timeout=1.0)
            except Empty:
                message = None
            if isinstance(message, TaskStarted):
                holding[message.worker].add(message.task_id)
            elif isinstance(message, TaskFailed):
                holding[message.worker].discard(message.task_id)
                remaining.discard(message.task_id)  # no shard: a re-run tries it again
                totals["failed"].append(message.task_id)
                tqdm.write(f"task {message.task_id} failed: {message.error}")
                bar.update()
            elif isinstance(message, TaskDone) and message.task_id in remaining:
                holding[message.worker].discard(message.task_id)
                write_shard(message.records, shard_for(output_dir, message.task_id))
                remaining.discard(message.task_id)
                for key in ("trajectories", "successes", "turns", "generated_tokens"):
                    totals[key] += getattr(message.stats, key)
                totals["tasks"] += 1
                metrics.tasks.inc()
                metrics.trajectories.inc(message.stats.trajectories)
                metrics.success.set(totals["successes"] / max(1, totals["trajectories"]))
                bar.update()
                bar.set_postfix(trajectories=totals["trajectories"], success=f"{totals['successes'] / max(1, totals['trajectories']):.2f}")
            finished, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
            for run in finished:
                try:
                    ray.get(run)  # an exception raised by the worker's loop itself would repeat: it ends the stage
                except RayActorError as death:  # the worker died: give its tasks back and replace it
                    name, _ = running.pop(run)
                    lost = sorted(holding.pop(name, set()) & remaining)
                    for task_id in lost:
                        tasks.put(task_id)
                    tqdm.write(f"{name} died ({type(death).__name__}); tasks {lost} go back on the queue")
                    running.update([workers.replace(death)])
                else:
                    del running[run]
            if not running and remaining and results.empty():  # the queue drained but results are missing
                for task_id in remaining:  # no worker is left that could hold one
                    tasks.put(task_id)
                holding.clear()
                running.update(workers.start() for _ in range(config.workers))
        bar.close()
        totals["worker_restarts"] = workers.replacements
        totals["seconds"] = time.perf_counter() - started
        if router:
            totals["replica_replacements"] = ray.get(router.stats.remote())["replacements"]
            cache = ray.get(router.prefix_cache.remote())
            totals["prefix_cache_hit_rate"] = cache["hits"] / max(1, cache["queries"])
    finally:  # a failed run must not leave its workers and vLLM replicas holding the cluster
        for _, actor in running.values():
            ray.kill(actor)
        if owned:
            stop_router(router)
    return totals
