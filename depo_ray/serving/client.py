"""The policy as the search and the evaluation call it: a chat in, n next turns out.

Two backends answer the same calls: the PolicyRouter actor (``RouterClient``) and a remote
OpenAI-compatible endpoint (``OpenAIEndpoint``). ``submit`` returns a future, so a caller can
keep many requests in flight (``depo_ray.search.interleave``); ``MeteredPolicy`` is the
one-request-at-a-time form that also keeps the model's wall time and generated tokens.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

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


@dataclass
class MeteredPolicy:
    backend: object
    """A PolicyRouter actor handle, an EndpointConfig or a client (see ``policy_client``)."""
    sampling: Sampling
    """Sampling of every request (temperature 0: greedy)."""
    key: str | None = None
    """Routing key: requests with one key go to one replica (its prefix cache)."""
    meter: Meter = field(default_factory=Meter)

    def __post_init__(self):
        self.client = policy_client(self.backend)

    @property
    def model_seconds(self) -> float:
        return self.meter.model_seconds

    @property
    def generated_tokens(self) -> int:
        return self.meter.generated_tokens

    def __call__(self, messages: list[dict], n: int = 1) -> list[str]:
        asked = time.perf_counter()
        return self.meter.add(self.client.submit(messages, n, self.sampling, key=self.key).result(), asked)
