"""The generate stage's settings: which tasks, the MCTS, the serving and the workers (no Ray,
no model). Which policy it searches with, in which environment and where the shards go are
the caller's: arguments of ``run_generation``."""

from __future__ import annotations

from dataclasses import dataclass, field

from depo_ray.env_setup import check_task_ids
from depo_ray.search.mcts import SearchConfig
from depo_ray.serving.config import ServingConfig
from depo_ray.serving.openai_client import EndpointConfig


@dataclass(frozen=True)
class GenerateConfig:
    tasks: tuple[int, int] = (0, 40)
    """Task ids [start, stop) to search; the environment's test tasks are always left out."""
    task_ids: tuple[int, ...] | None = None
    """An explicit list of task ids instead of the ``tasks`` range."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """MCTS settings."""
    serving: ServingConfig = field(default_factory=ServingConfig)
    """Policy-server replicas and their fault handling."""
    teacher: EndpointConfig | None = None
    """Search with a remote OpenAI-compatible model instead of local policy servers (the paper
    sampled with DeepSeek-V3); the searched policy then only supplies the tokenizer that counts
    tokens."""
    workers: int = 2
    """MCTS worker actors."""
    trees_per_worker: int = 16
    """Tasks each worker searches at once, each tree with one request out: the engine
    batches up to workers × trees_per_worker requests instead of waiting on one tree's turns
    (on 2 cores, 16 gave 5.3× the tokens/s of 1 with one worker; docs/generation.md)."""
    batches_per_worker: int = 1
    """A worker's trees' requests go to its replica in this many batches (one Ray call each);
    with 2, the worker steps one batch's environments while the engine answers the other. On
    2 cores 1 was as fast as 2 and took less CPU per turn (docs/generation.md)."""
    cpus_per_worker: float = 0.5
    """CPU Ray reserves per MCTS worker (mostly waiting on the policy servers)."""
    max_worker_restarts: int = 3
    """MCTS workers that die (process killed, node lost) are replaced, and the tasks they held
    searched again, this many times per run; one more death stops the stage with
    ``ActorsKeepDying`` naming the last cause, instead of restarting a worker that cannot live
    (a re-run resumes from the shards written). Evaluation and math allow 3 too."""
    split: str = "train"
    """Split stored in the records."""

    def __post_init__(self):
        check_task_ids(self.task_ids)
        if len(self.tasks) != 2 or self.tasks[0] < 0 or self.tasks[1] <= self.tasks[0]:
            raise ValueError(f"tasks: expected [start, stop) with 0 <= start < stop, got {list(self.tasks)}")
        if min(self.workers, self.trees_per_worker, self.batches_per_worker) < 1:
            raise ValueError("workers, trees_per_worker and batches_per_worker must be at least 1, got "
                             f"{self.workers}, {self.trees_per_worker}, {self.batches_per_worker}")
        if self.cpus_per_worker < 0 or self.max_worker_restarts < 0:
            raise ValueError("cpus_per_worker and max_worker_restarts must be non-negative, got "
                             f"{self.cpus_per_worker}, {self.max_worker_restarts}")
