"""MCTSWorker: a Ray actor that takes task ids from a queue, searches each with MCTS against
the policy router, and puts every distinct complete trajectory back as records.

Messages on the results queue: ("started", worker, task) before a search, then ("done", worker,
task, records, stats) or ("failed", worker, task, error), so the driver knows which task a
dead worker was holding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from depo_ray.envs import EnvConfig, make_env
from depo_ray.records import TrajectoryRecord, record_from_episode
from depo_ray.search.mcts import Search, SearchConfig
from depo_ray.serving.client import MeteredPolicy, policy_backend
from depo_ray.serving.openai_client import OpenAIEndpoint
from depo_ray.serving.server import Sampling
from environments.episode import ObservedEnv


@dataclass(frozen=True)
class SearchStats:
    trajectories: int
    successes: int
    turns: int
    """Environment turns stepped during the search (tree and rollouts)."""
    generated_tokens: int
    model_seconds: float
    seconds: float


class MCTSWorker:
    """Wrap with ``ray.remote``."""

    def __init__(self, name: str, env: EnvConfig, search: SearchConfig, backend, tokenizer_path: str,
                 policy_name: str, split: str = "train"):
        """``backend``: the PolicyRouter actor, or an EndpointConfig for a remote model."""
        from depo_ray.models import load_tokenizer

        self.name, self.search_config = name, search
        self.backend = policy_backend(backend)
        self.task_env = make_env(env)
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.policy_name, self.split = policy_name, split

    def search_task(self, task_id: int) -> tuple[list[TrajectoryRecord], SearchStats]:
        started, turns = time.perf_counter(), []
        tree = f"{self.task_env.name}-{task_id}"
        policy = MeteredPolicy(self.backend, Sampling(temperature=self.search_config.temperature,
                                                      max_tokens=self.search_config.max_new_tokens), key=tree)
        env = ObservedEnv(self.task_env.env, turns.append)
        search = Search(env, policy, self.search_config, self.task_env.instruction, self.task_env.reset_options(task_id))
        episodes = search.run()
        if not isinstance(self.backend, OpenAIEndpoint):
            self.backend.forget.remote(tree)
        described = self.task_env.describe(task_id)
        records = []
        for number, episode in enumerate(episodes):
            records.append(record_from_episode(
                episode, self.tokenizer, task_id=str(task_id), env=self.task_env.name, split=self.split,
                seed=described["seed"], source="mcts", policy=self.policy_name,
                provenance={**described["provenance"], "tree": tree, "found": number,
                            "simulations": self.search_config.simulations, "children": self.search_config.children},
            ))
        stats = SearchStats(len(records), sum(r.success for r in records), len(turns), policy.generated_tokens,
                            policy.model_seconds, time.perf_counter() - started)
        return records, stats

    def run(self, tasks, results) -> int:
        """Search tasks from the ``tasks`` queue until it is empty; returns how many."""
        from ray.util.queue import Empty

        done = 0
        while True:
            try:
                task_id = tasks.get(block=False)
            except Empty:
                return done
            results.put(("started", self.name, task_id))
            try:
                records, stats = self.search_task(task_id)
            except Exception as error:  # a bad task must not kill the worker (it would come back forever)
                results.put(("failed", self.name, task_id, f"{type(error).__name__}: {error}"))
                continue
            results.put(("done", self.name, task_id, records, stats))
            done += 1
