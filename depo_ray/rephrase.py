"""Rephrasing (the paper's step after search): a small model shortens the Thoughts of
desirable trajectories. The Action of every turn must come back unchanged, or the original
turn is kept; a rewrite that is not shorter is not taken either. Token counts are recomputed
with the policy tokenizer afterwards (depo_ray.tokens), so T̄_token reflects the new text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from depo_ray.records import TrajectoryRecord
from depo_ray.serving.openai_client import EndpointConfig
from depo_ray.serving.server import Generation, Sampling
from depo_ray.tokens import tokens_per_turn
from environments.parsing import normalize_action, parse_response

PROMPT = (
    "Rewrite the agent turn below so that the Thought is as short as possible while keeping the "
    "reasoning that justifies the action. Answer exactly in the form 'Thought: <short thought> "
    "Action: <action>' and copy the Action unchanged."
)

Generate = Callable[[list[dict], int, Sampling], list[Generation]]


@dataclass(frozen=True)
class RephraseConfig:
    endpoint: EndpointConfig
    """The rephraser's OpenAI-compatible endpoint."""
    instruction: str = PROMPT
    """System prompt of each rephrasing request."""
    max_tokens: int = 256
    """Longest rewrite in tokens."""
    labels: tuple[str, ...] = field(default=("desirable",))
    """Which labels get rephrased (the paper: desirable only)."""


def rephrase_turn(response: str, generate: Generate, config: RephraseConfig) -> tuple[str, bool]:
    """(text to keep, whether the rewrite was taken)."""
    original = parse_response(response)
    if not original.action:
        return response, False
    request = [{"role": "system", "content": config.instruction}, {"role": "user", "content": response}]
    (rewrite,) = generate(request, 1, Sampling(temperature=0.0, max_tokens=config.max_tokens))
    candidate = parse_response(rewrite.text)
    same_action = candidate.action is not None and normalize_action(candidate.action) == normalize_action(original.action)
    if same_action and len(rewrite.text) < len(response):
        return rewrite.text, True
    return response, False


def rephrase_record(record: TrajectoryRecord, generate: Generate, tokenizer, config: RephraseConfig) -> TrajectoryRecord:
    """The record with shortened assistant turns and recounted tokens (others unchanged)."""
    if record.label not in config.labels:
        return record
    messages, taken = [], 0
    for message in record.messages:
        if message["role"] == "assistant":
            text, ok = rephrase_turn(message["content"], generate, config)
            message, taken = {"role": "assistant", "content": text}, taken + ok
        messages.append(message)
    if not taken:
        return record
    total = sum(tokens_per_turn(tokenizer, messages))
    return replace(record, messages=messages, total_tokens=total, avg_tokens_per_step=total / record.steps,
                   provenance={**record.provenance, "rephrased_turns": taken})
