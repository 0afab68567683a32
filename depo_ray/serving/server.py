"""PolicyServer: one vLLM engine in a Ray actor, generating the next agent turn for chats.

Callers send batches (``generate_batch``): every pending turn of a worker's search trees or
episodes in one Ray call, as token ids rendered on the caller's side by
``depo_ray.tokens.prompt_ids`` (the one chat -> ids function, so the policy sees exactly the
ids it was trained on). The actor is async: several callers' batches are in flight at once and
vLLM schedules all their requests together.

A chat that has outgrown the engine's context (a pretrained model writing long turns) is not
an error: the answer is cut to the room left, and with no room left it is empty and marked
``context_full``, so the environment counts an invalid turn and the episode runs out of turns
instead of failing its task or the whole evaluation.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass, field

from depo_ray.serving.engine import EngineConfig, start_engine
from depo_ray.tokens import prompt_ids

# vLLM and transformers load in the server actor: the driver imports this module for its request
# types.

log = logging.getLogger(__name__)


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
class ChatRequest:
    """One turn to generate, as a caller asks for it."""

    messages: list[dict]
    """The chat so far."""
    n: int = 1
    """How many sampled answers."""
    sampling: Sampling = field(default_factory=Sampling)


@dataclass(frozen=True)
class TurnRequest:
    """One turn to generate, as the server receives it."""

    prompt_ids: list[int]
    """The chat so far with the template's generation prompt, as token ids."""
    n: int = 1
    sampling: Sampling = field(default_factory=Sampling)


@dataclass(frozen=True)
class Generation:
    text: str
    """The response, without the end-of-turn token."""
    completion_tokens: int
    """Tokens generated, the end-of-turn token included."""
    prompt_tokens: int
    """Tokens of the prompt."""
    context_full: bool = False
    """The prompt left no room in the engine's context: nothing was generated."""


class PolicyServer:
    """Wrap with ``ray.remote`` (see ``depo_ray.serving.router``); usable as a plain object too."""

    def __init__(self, model: str, engine: EngineConfig | None = None):
        from depo_ray.models.loading import load_tokenizer

        engine = engine or EngineConfig()
        self.model, self.max_model_len = model, engine.max_model_len
        self.context_full = 0
        """Requests answered empty because their chat filled the context."""
        self.tokenizer = load_tokenizer(model)
        self.engine = start_engine(model, engine)
        self._ids = itertools.count()

    async def generate_batch(self, requests: list[TurnRequest]) -> list[list[Generation]]:
        """Every request's ``n`` answers, in order; all reach the engine at once."""
        return list(await asyncio.gather(*(self._generate(r.prompt_ids, r.n, r.sampling) for r in requests)))

    async def generate(self, messages: list[dict], n: int = 1, sampling: Sampling | None = None) -> list[Generation]:
        """One chat's answers, rendered here (for callers without the tokenizer)."""
        return await self._generate(prompt_ids(self.tokenizer, messages), n, sampling or Sampling())

    async def _generate(self, ids: list[int], n: int, sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        room = self.max_model_len - len(ids)
        if room < 1:
            if not self.context_full:
                log.warning("a chat of %d tokens fills the %d-token context of %s: its turns get empty answers "
                            "(raise engine.max_model_len)", len(ids), self.max_model_len, self.model)
            self.context_full += 1
            return [Generation(text="", completion_tokens=0, prompt_tokens=len(ids), context_full=True) for _ in range(n)]
        params = SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=min(sampling.max_tokens, room), seed=sampling.seed,
                                # one final output holding all n samples (streamed outputs carry one each)
                                output_kind=RequestOutputKind.FINAL_ONLY,
                                # vLLM's incremental detokenizer runs at every engine step (a fifth
                                # of this process's CPU); one decode of the finished answer is cheaper
                                detokenize=False)
        final = None
        async for output in self.engine.generate({"prompt_token_ids": ids}, params, request_id=f"r{next(self._ids)}"):
            final = output
        return [Generation(text=self.tokenizer.decode(c.token_ids, skip_special_tokens=True).strip(),
                           completion_tokens=len(c.token_ids), prompt_tokens=len(ids))
                for c in final.outputs]

    async def load(self, model: str) -> str:
        """Serve ``model`` from now on: its weights replace the served ones in the running engine
        (the caller checks ``swap.shares_engine`` and sends nothing meanwhile), and the prefix
        cache, which holds the old weights' keys and values, is emptied."""
        from depo_ray.models.loading import load_tokenizer

        await self.engine.collective_rpc("load_policy", args=(model,))
        await self.engine.reset_prefix_cache()
        self.model, self.tokenizer = model, load_tokenizer(model)
        return model

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
