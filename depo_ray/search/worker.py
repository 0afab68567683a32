"""MCTSWorker: a Ray actor that takes task ids from a queue and searches up to
``trees_in_flight`` of them at once with MCTS, and puts every distinct complete trajectory
back as records. Each tree has one request out at a time; the worker sends its trees'
requests in batches straight to its leased vLLM replica (or to a remote endpoint).

Messages on the results queue: ``TaskStarted`` before a search, then ``TaskDone`` or
``TaskFailed``, so the driver knows which tasks a dead worker was holding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from depo_ray.env_setup import EnvConfig, make_env
from depo_ray.records import TrajectoryRecord, record_from_episode
from depo_ray.search.interleave import Interleaver
from depo_ray.search.mcts import Request, Search, SearchConfig, request_seed
from depo_ray.serving.client import Meter, policy_client
from depo_ray.serving.server import ChatRequest, Sampling
from depo_ray.tokens import PieceTokenizer
from environments.episode import Episode, ObservedEnv

# Ray and transformers load on first use: the search trees and their interleaving run and are
# tested without them.


@dataclass(frozen=True)
class SearchStats:
    trajectories: int
    successes: int
    turns: int
    """Environment turns stepped during the search (tree and rollouts)."""
    generated_tokens: int
    model_seconds: float
    seconds: float


@dataclass(frozen=True)
class TaskStarted:
    worker: str
    task_id: int


@dataclass(frozen=True)
class TaskDone:
    worker: str
    task_id: int
    records: list[TrajectoryRecord]
    stats: SearchStats


@dataclass(frozen=True)
class TaskFailed:
    worker: str
    task_id: int
    error: str


@dataclass
class _Tree:
    """Bookkeeping of one task's search while it runs."""

    started: float = field(default_factory=time.perf_counter)
    asked: float = 0.0
    """When its request in flight was sent."""
    turns: int = 0
    """Environment steps so far."""
    requests: int = 0
    """Requests sent so far (the next one's place in the search, for its seed)."""
    meter: Meter = field(default_factory=Meter)

    def count_turn(self, _step_result) -> None:
        self.turns += 1


class MCTSWorker:
    """Wrap with ``ray.remote``."""

    def __init__(self, name: str, env: EnvConfig, search: SearchConfig, backend, tokenizer_path: str,
                 policy_name: str, split: str = "train", trees_in_flight: int = 1, batches_in_flight: int = 2):
        """``backend``: the PolicyRouter actor, or an EndpointAccess for a remote model."""
        from depo_ray.models.loading import load_tokenizer

        self.name, self.search_config = name, search
        self.trees_in_flight, self.batches_in_flight = trees_in_flight, batches_in_flight
        self.task_env = make_env(env)
        # prompts and found trajectories share their pieces: one cache tokenizes each once
        self.tokenizer = PieceTokenizer(load_tokenizer(tokenizer_path))
        self.client = policy_client(backend, self.tokenizer)
        self.policy_name, self.split = policy_name, split
        self.sampling = Sampling(temperature=search.temperature, max_tokens=search.max_new_tokens)
        self._trees: dict[int, _Tree] = {}

    def run(self, tasks, results) -> int:
        """Search tasks from the ``tasks`` queue until it is empty; returns how many were done."""
        from ray.util.queue import Empty

        interleaver = Interleaver(self._submit, self._receive, self.batches_in_flight)
        done, drained = 0, False
        while True:
            while not drained and len(interleaver) < self.trees_in_flight:
                try:
                    task_id = tasks.get(block=False)
                except Empty:
                    drained = True
                    break
                results.put(TaskStarted(self.name, task_id))
                self._trees[task_id] = _Tree()
                interleaver.start(task_id, self._search(task_id))
            for finished in interleaver.wait():
                message = self._finish(finished.key, finished.result, finished.error)
                done += isinstance(message, TaskDone)
                results.put(message)
            if drained and not len(interleaver):
                self.client.close()
                return done

    def _search(self, task_id: int):
        """The task's search as a request generator; the worker's one environment is shared by
        its trees (each step restores its own snapshot)."""
        env = ObservedEnv(self.task_env.env, self._trees[task_id].count_turn)
        search = Search(env, self.search_config, self.task_env.instruction, self.task_env.reset_options(task_id))
        return (yield from search.steps())

    def _submit(self, batch: list[tuple[int, Request]]):
        requests, now = [], time.perf_counter()
        for task_id, request in batch:
            tree = self._trees[task_id]
            tree.asked = now
            seed = request_seed(self.search_config.seed, task_id, tree.requests)
            tree.requests += 1
            requests.append(ChatRequest(request.messages, request.n, replace(self.sampling, seed=seed)))
        return self.client.submit_batch(requests)

    def _receive(self, task_id: int, generations) -> list[str]:
        tree = self._trees[task_id]
        return tree.meter.add(generations, tree.asked)

    def _finish(self, task_id: int, episodes: list[Episode] | None, error: Exception | None) -> TaskDone | TaskFailed:
        """The message for a finished search; a bad task must not kill the worker (it would
        come back forever), so any error becomes a TaskFailed."""
        tree = self._trees.pop(task_id)
        if error is None:
            try:
                records = self._records(task_id, tree, episodes)
            except Exception as failure:
                error = failure
        if error is not None:
            return TaskFailed(self.name, task_id, f"{type(error).__name__}: {error}")
        stats = SearchStats(len(records), sum(r.success for r in records), tree.turns, tree.meter.generated_tokens,
                            tree.meter.model_seconds, time.perf_counter() - tree.started)
        return TaskDone(self.name, task_id, records, stats)

    def _records(self, task_id: int, tree: _Tree, episodes: list[Episode]) -> list[TrajectoryRecord]:
        described = self.task_env.describe(task_id)
        return [record_from_episode(
            episode, self.tokenizer, task_id=str(task_id), env=self.task_env.name, split=self.split,
            seed=described["seed"], source="mcts", policy=self.policy_name,
            provenance={**described["provenance"], "found": number,
                        "simulations": self.search_config.simulations, "children": self.search_config.children},
        ) for number, episode in enumerate(episodes)]
