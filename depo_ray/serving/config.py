"""How the policy is served: replicas, their resources, timeouts and the engine (no Ray, no vLLM)."""

from __future__ import annotations

from dataclasses import dataclass, field

from depo_ray.serving.engine import EngineConfig


@dataclass(frozen=True)
class ServingConfig:
    replicas: int = 1
    """PolicyServer actors (one vLLM engine each)."""
    cpus_per_replica: float = 1.0
    """CPU cores Ray reserves per replica."""
    gpus_per_replica: float = 0.0
    """GPUs per replica (set to engine.tensor_parallel_size on GPU clusters)."""
    request_timeout_s: float = 300.0
    """A caller's batch not answered in this time: its replica is replaced and the batch sent
    again to the replica the caller is lent next. Long chats that overflow a replica's KV cache
    are prefilled again on every turn; give them more time, or fewer episodes in flight."""
    max_attempts: int = 3
    """Tries per batch before the error reaches the caller."""
    health_interval_s: float = 10.0
    """Seconds between health checks of each ready replica."""
    health_timeout_s: float = 30.0
    """A health check slower than this counts as a failure."""
    max_start_failures: int = 3
    """Failed starts in a row of one replica after which the router stops retrying and
    requests raise: a start that failed this often will not be cured by another."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """The vLLM engine of every replica."""

    def __post_init__(self):
        if min(self.replicas, self.max_attempts, self.max_start_failures) < 1:
            raise ValueError("serving.replicas, serving.max_attempts and serving.max_start_failures must be at least 1")
        if self.cpus_per_replica < 0 or self.gpus_per_replica < 0:
            raise ValueError("serving.cpus_per_replica and serving.gpus_per_replica must be non-negative")
        if min(self.request_timeout_s, self.health_interval_s, self.health_timeout_s) <= 0:
            raise ValueError("serving timeouts and intervals must be positive")
