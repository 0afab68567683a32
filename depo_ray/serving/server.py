"""PolicyServer: one vLLM engine in a Ray actor, generating the next agent turn for a chat.

The actor is async: many MCTS workers' requests are in flight at once and vLLM batches them.
Prompts are built by ``depo_ray.tokens.prompt_ids`` (the one chat -> ids function), so the
policy sees exactly the token ids it was trained on.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from depo_ray.serving.engine import EngineConfig, engine_arguments


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    """0 is greedy decoding."""
    max_tokens: int = 96
    """Longest response in tokens."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    seed: int | None = None
    """Per-request seed (reproducible sampling for a fixed engine and batch)."""


@dataclass(frozen=True)
class Generation:
    text: str
    """The response, without the end-of-turn token."""
    completion_tokens: int
    """Tokens generated, the end-of-turn token included."""
    prompt_tokens: int
    """Tokens of the prompt."""


class PolicyServer:
    """Wrap with ``ray.remote`` (see ``depo_ray.serving.router``); usable as a plain object too."""

    def __init__(self, model: str, engine: EngineConfig | None = None):
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from depo_ray.models import load_tokenizer

        self.model = model
        self.tokenizer = load_tokenizer(model)
        self.engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**engine_arguments(model, engine or EngineConfig())))
        self._ids = itertools.count()

    async def generate(self, messages: list[dict], n: int = 1, sampling: Sampling | None = None) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        from depo_ray.tokens import prompt_ids

        sampling = sampling or Sampling()
        ids = prompt_ids(self.tokenizer, messages)
        params = SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_tokens, seed=sampling.seed,
                                # one final output holding all n samples (streamed outputs carry one each)
                                output_kind=RequestOutputKind.FINAL_ONLY)
        final = None
        async for output in self.engine.generate({"prompt_token_ids": ids}, params, request_id=f"r{next(self._ids)}"):
            final = output
        return [Generation(text=c.text.strip(), completion_tokens=len(c.token_ids), prompt_tokens=len(ids))
                for c in final.outputs]

    async def health(self) -> str:
        """Raises when the engine is dead; returns the model served."""
        await self.engine.check_health()
        return self.model

    def prefix_cache(self) -> dict[str, int]:
        """Prompt tokens looked up in the prefix cache since the engine started, and how many hit."""
        return prefix_cache_counts()

    def pid(self) -> int:
        return os.getpid()


def prefix_cache_counts() -> dict[str, int]:
    """This process's vLLM prefix-cache counters (engines with stats logging on, as AsyncLLM
    by default and ``make_llm`` engines)."""
    from vllm.v1.metrics.reader import Counter, get_metrics_snapshot

    counts = {"queries": 0, "hits": 0}
    for metric in get_metrics_snapshot():
        for name in counts:
            if isinstance(metric, Counter) and metric.name == f"vllm:prefix_cache_{name}":
                counts[name] += metric.value
    return counts
