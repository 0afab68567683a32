"""The one place that turns a chat into token ids and an assistant mask, and counts tokens.

Training (loss on assistant tokens), evaluation and record statistics (T̄_token) all call
``chat_tokens``; serving's prompts come from ``prompt_ids``; nothing else tokenizes a chat, so
the counts agree everywhere. Where chats share their beginnings (search, evaluation),
``PieceTokenizer`` gives both the same ids, tokenizing only what a chat adds.

How the mask is found: the chat template renders the conversation once; for each assistant
turn k, the text rendered for turns < k with the generation prompt, and for turns <= k, bound
the characters of that turn. Tokens whose first character falls in such a span are
assistant tokens. A span is the reply plus the end-of-turn token (the tokenizer's EOS), i.e.
exactly what a policy generates for that turn; the template's header and any separator
after EOS are prompt. Templates that rewrite earlier turns (not prefix-stable) are refused.

Segments (Structured Agent Distillation): an assistant token is in the action segment when
its first character is at or after the turn's last "Action:" (through the EOS), else in the
reasoning segment; a turn without "Action:" is all reasoning. So the two masks split the
assistant tokens exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from environments.parsing import action_start

Message = dict[str, str]


@dataclass(frozen=True)
class ChatTokens:
    input_ids: list[int]
    assistant_mask: list[int]  # 1 on tokens the policy generated, else 0
    turn_index: list[int]  # which assistant turn (0-based) a token belongs to, -1 if none
    action_mask: list[int]  # 1 on assistant tokens of the action segment ("Action: ..." and EOS)

    @property
    def reasoning_mask(self) -> list[int]:
        """1 on assistant tokens of the reasoning segment (before the turn's "Action:")."""
        return [a - b for a, b in zip(self.assistant_mask, self.action_mask)]


def _render(tokenizer, messages: list[Message], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[Message]) -> tuple[str, list[tuple[int, int, int]]]:
    """The rendered chat and, for each assistant turn, its character span and where its
    action segment starts (the span's end when the turn has no "Action:")."""
    text = _render(tokenizer, messages, generation_prompt=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:k], generation_prompt=True)
        through = _render(tokenizer, messages[: k + 1], generation_prompt=False)
        if not (through.startswith(before) and text.startswith(through)):
            raise ValueError(
                f"the chat template of {type(tokenizer).__name__} is not prefix-stable at message {k}; "
                "it rewrites earlier turns, so assistant tokens cannot be located"
            )
        end = len(through)
        eos = tokenizer.eos_token
        if eos:
            at = through.find(eos, len(before))
            if at != -1:
                end = at + len(eos)
        content_at = through.find(message["content"], len(before))
        action_at = action_start(message["content"]) if content_at != -1 else None
        spans.append((len(before), end, end if action_at is None else content_at + action_at))
    return text, spans


def chat_tokens(tokenizer, messages: list[Message]) -> ChatTokens:
    text, spans = assistant_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    mask, turn, action = [0] * len(ids), [-1] * len(ids), [0] * len(ids)
    span_index = 0
    for t, (start, end) in enumerate(encoded["offset_mapping"]):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        if span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1] and end > start:
            mask[t], turn[t], action[t] = 1, span_index, int(start >= spans[span_index][2])
    return ChatTokens(ids, mask, turn, action)


def only_turn(tokens: ChatTokens, turn: int) -> ChatTokens:
    """``tokens`` with the loss masks kept on assistant turn ``turn`` alone: the earlier turns
    are context (an invalid turn as its own undesirable example)."""
    keep = [int(index == turn) for index in tokens.turn_index]
    if not any(keep):
        raise ValueError(f"the chat has no assistant turn {turn} (it has {max(tokens.turn_index) + 1})")
    return replace(tokens, assistant_mask=[m * k for m, k in zip(tokens.assistant_mask, keep)],
                   action_mask=[m * k for m, k in zip(tokens.action_mask, keep)])


def tokens_per_turn(tokenizer, messages: list[Message]) -> list[int]:
    """Generated tokens of each assistant turn (reply plus end-of-turn token)."""
    tokens = chat_tokens(tokenizer, messages)
    counts = [0] * sum(1 for m in messages if m["role"] == "assistant")
    for index in tokens.turn_index:
        if index >= 0:
            counts[index] += 1
    return counts


def prompt_ids(tokenizer, messages: list[Message]) -> list[int]:
    """The ids a policy continues from to write the next assistant turn (the chat so far plus
    the template's generation prompt): what serving sends to vLLM."""
    return list(tokenizer(_render(tokenizer, messages, generation_prompt=True), add_special_tokens=False)["input_ids"])


class PieceTokenizer:
    """A tokenizer for a stream of chats that share their beginnings (a search tree's prompts
    and found trajectories, an episode's turns): the same ids and offsets as ``tokenizer``,
    without tokenizing the whole chat each time. Everything else is the wrapped tokenizer's.

    A fast tokenizer cuts its input at special tokens before anything else, so a rendered
    chat's ids are those of the pieces between special tokens, joined with the special
    tokens' ids (offsets shifted to where each piece starts). The pieces (the instruction,
    each observation, each answer with its role header) recur in every later chat of the
    tree, so each is tokenized once and kept. The first ``check_first`` texts are also
    tokenized whole; if one differs (a tokenizer whose special tokens strip the spaces beside
    them, or that marks a piece's start), every text is tokenized whole from then on.

    Rendered chats are kept too (the last ``max_renders``): a node's prompt is asked again by
    its rollouts and siblings, and a found trajectory's mask needs each of its prompts."""

    def __init__(self, tokenizer, check_first: int = 16, max_pieces: int = 100_000, max_renders: int = 4096):
        self.tokenizer, self.max_pieces, self.max_renders = tokenizer, max_pieces, max_renders
        self._renders: dict[tuple, str] = {}
        special = sorted({t.content for t in tokenizer.added_tokens_decoder.values() if t.special}, key=len, reverse=True)
        self._special_ids = {text: tokenizer.convert_tokens_to_ids(text) for text in special}
        self._splitter = re.compile("(" + "|".join(map(re.escape, special)) + ")") if special else None
        self._pieces: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        self._checks_left = check_first

    def __getattr__(self, name: str):
        if name == "tokenizer":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def apply_chat_template(self, messages: list[Message], tokenize: bool = True, add_generation_prompt: bool = False,
                            **options):
        if tokenize or options:
            return self.tokenizer.apply_chat_template(messages, tokenize=tokenize,
                                                      add_generation_prompt=add_generation_prompt, **options)
        key = (add_generation_prompt, *(tuple(m.items()) for m in messages))
        text = self._renders.get(key)
        if text is None:
            if len(self._renders) >= self.max_renders:
                self._renders.clear()
            text = self._renders[key] = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return text

    @property
    def piecewise(self) -> bool:
        """Whether texts are still tokenized piece by piece (no check has failed)."""
        return self._splitter is not None

    def __call__(self, text: str, add_special_tokens: bool = False, return_offsets_mapping: bool = False) -> dict:
        if add_special_tokens:
            raise ValueError("PieceTokenizer tokenizes rendered chats: add_special_tokens must be False")
        if self._splitter is None:
            return self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=return_offsets_mapping)
        checking = self._checks_left > 0
        ids, offsets = self._piecewise(text, with_offsets=return_offsets_mapping or checking)
        if checking:
            self._checks_left -= 1
            whole = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            if ids != list(whole["input_ids"]) or offsets != [tuple(o) for o in whole["offset_mapping"]]:
                self._splitter = None
                return whole
        return {"input_ids": ids, **({"offset_mapping": offsets} if return_offsets_mapping else {})}

    def _piecewise(self, text: str, with_offsets: bool) -> tuple[list[int], list[tuple[int, int]]]:
        if len(self._pieces) > self.max_pieces:  # a long run: start afresh rather than grow without bound
            self._pieces.clear()
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        at = 0
        for piece in self._splitter.split(text):
            if piece in self._special_ids:
                ids.append(self._special_ids[piece])
                if with_offsets:
                    offsets.append((at, at + len(piece)))
            elif piece:
                known = self._pieces.get(piece)
                if known is None:
                    encoded = self.tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
                    known = self._pieces[piece] = (list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]])
                ids.extend(known[0])
                if with_offsets:
                    offsets.extend([(at + start, at + end) for start, end in known[1]])
            at += len(piece)
        return ids, offsets


def piece_tokenizer(tokenizer) -> PieceTokenizer:
    """``tokenizer`` as a PieceTokenizer (itself if it is one already)."""
    return tokenizer if isinstance(tokenizer, PieceTokenizer) else PieceTokenizer(tokenizer)
