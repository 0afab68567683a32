"""The policy as the search and the evaluation call it: a chat in, n next turns out.

Two backends answer the same calls: the PolicyRouter actor (``RouterClient``) and a remote
OpenAI-compatible endpoint (``OpenAIEndpoint``). ``submit`` returns a future, so a caller can
keep many requests in flight (``depo_ray.search.interleave``); a ``Meter`` keeps what the
answered requests cost (the model's wall time, generated tokens).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass

from depo_ray.serving.openai_client import EndpointConfig, OpenAIEndpoint
from depo_ray.serving.server import Generation, Sampling


class RouterClient:
    def __init__(self, router):
        self.router = router

    def submit(self, messages: list[dict], n: int, sampling: Sampling, key: str | None = None) -> Future:
        """Future of the ``n`` Generations; requests with one ``key`` go to one replica (its prefix cache)."""
        return self.router.generate.remote(messages, n, sampling, key=key).future()

    def forget(self, key: str) -> None:
        """The key's requests are over: the router may drop its stickiness."""
        self.router.forget.remote(key)


def policy_client(backend) -> RouterClient | OpenAIEndpoint:
    """A client for a PolicyRouter actor handle, an EndpointConfig or an OpenAIEndpoint."""
    if isinstance(backend, EndpointConfig):
        return OpenAIEndpoint(backend)
    return backend if isinstance(backend, (RouterClient, OpenAIEndpoint)) else RouterClient(backend)


@dataclass
class Meter:
    """What a stream of requests cost."""

    model_seconds: float = 0.0
    """Wall time from sending a request to reading its answer, summed."""
    generated_tokens: int = 0
    """Tokens the model generated (as the engine counts them)."""

    def add(self, generations: list[Generation], asked: float) -> list[str]:
        """Count one answered request (sent at ``asked``, a perf_counter time); returns its texts."""
        self.model_seconds += time.perf_counter() - asked
        self.generated_tokens += sum(g.completion_tokens for g in generations)
        return [g.text for g in generations]
