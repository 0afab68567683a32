"""The policy as the search and the evaluation call it: a chat in, n next turns out.

``MeteredPolicy`` asks the PolicyRouter (sticky on ``key``) or a remote OpenAI-compatible
endpoint, and keeps the model's wall time and generated tokens, so callers can split a
task's seconds into model time and environment time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from depo_ray.serving.openai_client import EndpointConfig, OpenAIEndpoint
from depo_ray.serving.server import Sampling


def policy_backend(backend):
    """The PolicyRouter actor as given, or a client for an EndpointConfig."""
    return OpenAIEndpoint(backend) if isinstance(backend, EndpointConfig) else backend


@dataclass
class MeteredPolicy:
    backend: object
    """A PolicyRouter actor handle or an OpenAIEndpoint (see ``policy_backend``)."""
    sampling: Sampling
    """Sampling of every request (temperature 0: greedy)."""
    key: str | None = None
    """Routing key: requests with one key go to one replica (its prefix cache)."""
    model_seconds: float = 0.0
    """Wall time spent waiting for generations."""
    generated_tokens: int = 0
    """Tokens the model generated (as the engine counts them)."""

    def __call__(self, messages: list[dict], n: int = 1) -> list[str]:
        import ray

        asked = time.perf_counter()
        if isinstance(self.backend, OpenAIEndpoint):
            generations = self.backend.generate(messages, n, self.sampling)
        else:
            generations = ray.get(self.backend.generate.remote(messages, n, self.sampling, key=self.key))
        self.model_seconds += time.perf_counter() - asked
        self.generated_tokens += sum(g.completion_tokens for g in generations)
        return [g.text for g in generations]
