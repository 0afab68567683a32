"""A client for OpenAI-compatible chat endpoints: remote teachers (the paper sampled with
DeepSeek-V3 through an API), a `vllm serve` elsewhere, and the rephraser.

``submit(messages, n, sampling)`` returns a future of Generations (``generate`` waits for
them); ``depo_ray.serving.client.EndpointClient`` turns it into the batch call that search
and evaluation make of a local replica, so they take either, chosen by config. Requests run on a thread pool of ``max_in_flight`` threads, which bounds how many an
endpoint sees at once; each is retried with backoff on connection errors, timeouts, 429 and
5xx, and then either returns its generations once or raises: none is lost or duplicated.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from depo_ray.serving.server import Generation, Sampling

# openai is not among the project's dependencies: it loads when an endpoint is first used.


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    """Root of the API, e.g. http://localhost:8000/v1 or https://api.deepseek.com/v1."""
    model: str
    """Model name the endpoint serves."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (a local server accepts any)."""
    timeout_s: float = 120.0
    """Per-request timeout."""
    max_attempts: int = 3
    """Tries per request (connection errors, timeouts, 429 and 5xx) with exponential backoff."""
    backoff_s: float = 1.0
    """Wait before the first retry; doubled on each further one, with random jitter."""
    max_in_flight: int = 16
    """Requests this client sends at once (a rate-limited API wants few; a local server many)."""

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint.base_url must start with http:// or https://, got {self.base_url!r}")
        if self.max_attempts < 1 or self.timeout_s <= 0:
            raise ValueError("endpoint.max_attempts must be at least 1 and endpoint.timeout_s positive")
        if self.max_in_flight < 1 or self.backoff_s < 0:
            raise ValueError("endpoint.max_in_flight must be at least 1 and endpoint.backoff_s non-negative")


@dataclass(frozen=True)
class EndpointAccess:
    """An endpoint with the API key read from the driver's environment. An actor on another
    node does not inherit that environment, so the key travels in the actor's arguments (a
    runtime_env would show it on the dashboard)."""

    config: EndpointConfig
    api_key: str = field(repr=False)

    @classmethod
    def from_environment(cls, config: EndpointConfig) -> "EndpointAccess":
        return cls(config, os.environ.get(config.api_key_env, "none"))


def backoff_delay(config: EndpointConfig, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed try ``attempt`` (0-based): exponential, with jitter up to
    half of it so that many requests throttled together do not retry together."""
    base = config.backoff_s * 2 ** attempt
    return base * (1 + 0.5 * (rng or random).random())


class OpenAIEndpoint:
    def __init__(self, config: EndpointConfig, api_key: str | None = None):
        """``api_key``: else read from this process's environment (``config.api_key_env``)."""
        import openai

        self.config = config
        # Retries are ours (below), so the SDK's own are off.
        api_key = api_key if api_key is not None else EndpointAccess.from_environment(config).api_key
        self.client = openai.OpenAI(base_url=config.base_url, api_key=api_key,
                                    timeout=config.timeout_s, max_retries=0)
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, messages: list[dict], n: int = 1, sampling: Sampling | None = None) -> Future:
        """Future of ``generate``'s answer."""
        if self._pool is None:  # made on first use, so a client built and never used holds no threads
            self._pool = ThreadPoolExecutor(self.config.max_in_flight, thread_name_prefix="openai-request")
        return self._pool.submit(self.generate, messages, n, sampling)

    def generate(self, messages: list[dict], n: int = 1, sampling: Sampling | None = None) -> list[Generation]:
        import openai

        sampling = sampling or Sampling()
        retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError)
        for attempt in range(self.config.max_attempts):
            try:
                reply = self.client.chat.completions.create(
                    model=self.config.model, messages=messages, n=n, temperature=sampling.temperature,
                    top_p=sampling.top_p, max_tokens=sampling.max_tokens, seed=sampling.seed)
                break
            except retryable:
                if attempt == self.config.max_attempts - 1:
                    raise
                time.sleep(backoff_delay(self.config, attempt))
        usage = reply.usage
        # The API reports completion tokens for all n choices together.
        per_choice = usage.completion_tokens // max(1, len(reply.choices)) if usage else 0
        return [Generation(text=(choice.message.content or "").strip(), completion_tokens=per_choice,
                           prompt_tokens=usage.prompt_tokens if usage else 0) for choice in reply.choices]
