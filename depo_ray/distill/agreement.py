"""How a distilled student compares with its teacher beyond task success: the lengths of its
reasoning and action segments per turn, and how often it would take the teacher's action
when it reads the teacher's own trajectory (teacher forcing, greedy).

The pure parts work on ``ChatTokens`` and the model's greedy next tokens; ``action_matches_on``
runs a Hugging Face model over recorded chats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from depo_ray.tokens import ChatTokens, chat_tokens

# torch and transformers load on first use: segment_lengths and action_matches need neither.


@dataclass(frozen=True)
class SegmentLengths:
    turns: int
    """Assistant turns."""
    reasoning_tokens: int
    """Tokens before each turn's "Action:", summed over the turns."""
    action_tokens: int
    """Tokens from each turn's "Action:" through its end-of-turn token, summed."""


def segment_lengths(tokens: ChatTokens) -> SegmentLengths:
    turns = len({t for t in tokens.turn_index if t >= 0})
    return SegmentLengths(turns, sum(tokens.reasoning_mask), sum(tokens.action_mask))


def action_matches(tokens: ChatTokens, greedy_next: Sequence[int]) -> list[bool]:
    """For each assistant turn that has an action segment, whether the model's greedy token
    equals the written one at every position of that segment. ``greedy_next[t]`` is the
    model's most likely token for position t (from the logits at t − 1; position 0 has none)."""
    if len(greedy_next) != len(tokens.input_ids):
        raise ValueError(f"{len(greedy_next)} greedy tokens for {len(tokens.input_ids)} positions")
    matched: dict[int, bool] = {}
    for t, (written, turn, in_action) in enumerate(zip(tokens.input_ids, tokens.turn_index, tokens.action_mask)):
        if in_action:
            if t == 0:
                raise ValueError("an action token at position 0 has no prediction")
            matched[turn] = matched.get(turn, True) and greedy_next[t] == written
    return [matched[turn] for turn in sorted(matched)]


def action_matches_on(model_path: str, chats: list[list[dict]]) -> list[bool]:
    """For each turn with an action in ``chats`` (the teacher's recorded episodes, in order),
    whether the model at ``model_path`` reproduces that action token for token when it reads
    the same history."""
    import torch
    from transformers import AutoModelForCausalLM

    from depo_ray.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.float32).eval()
    matches: list[bool] = []
    with torch.no_grad():
        for messages in chats:
            tokens = chat_tokens(tokenizer, messages)
            logits = model(torch.tensor([tokens.input_ids])).logits[0]
            greedy_next = [-1, *logits[:-1].argmax(-1).tolist()]
            matches += action_matches(tokens, greedy_next)
    return matches
