"""The one chat tokenization: ids and assistant masks, checked by hand on the tiny tokenizer."""

import pytest

from depo_ray.tokens import PieceTokenizer, chat_tokens, prompt_ids, tokens_per_turn

CHAT = [
    {"role": "system", "content": "Finish in as few turns as you can."},
    {"role": "user", "content": "Mission: go to the red ball"},
    {"role": "assistant", "content": "Thought: go.\nAction: go to red ball 1"},
    {"role": "user", "content": "Walls: 3 steps ahead."},
    {"role": "assistant", "content": "Action: turn left"},
]


def test_ids_and_mask_of_a_hand_checked_chat(tiny_tokenizer):
    tokens = chat_tokens(tiny_tokenizer, CHAT)
    pieces = tiny_tokenizer.convert_ids_to_tokens(tokens.input_ids)
    assert pieces == [
        "<|system|>", "finish", "in", "as", "few", "turns", "as", "you", "can", ".", "<|end|>",
        "<|user|>", "mission", ":", "go", "to", "the", "red", "ball", "<|end|>",
        "<|assistant|>", "thought", ":", "go", ".", "action", ":", "go", "to", "red", "ball", "1", "<|end|>",
        "<|user|>", "walls", ":", "3", "steps", "ahead", ".", "<|end|>",
        "<|assistant|>", "action", ":", "turn", "left", "<|end|>",
    ]
    generated = [p for p, m in zip(pieces, tokens.assistant_mask) if m]
    assert generated == ["thought", ":", "go", ".", "action", ":", "go", "to", "red", "ball", "1", "<|end|>",
                         "action", ":", "turn", "left", "<|end|>"]
    assert tokens.turn_index.count(0) == 12 and tokens.turn_index.count(1) == 5
    assert tokens_per_turn(tiny_tokenizer, CHAT) == [12, 5]


def test_reasoning_and_action_segments_split_the_assistant_tokens(tiny_tokenizer):
    chat = CHAT + [{"role": "user", "content": "You see a wall."},
                   {"role": "assistant", "content": "Thought: a wall, no action here"}]
    tokens = chat_tokens(tiny_tokenizer, chat)
    pieces = tiny_tokenizer.convert_ids_to_tokens(tokens.input_ids)
    reasoning = [p for p, m in zip(pieces, tokens.reasoning_mask) if m]
    action = [p for p, m in zip(pieces, tokens.action_mask) if m]
    assert reasoning == ["thought", ":", "go", ".", "thought", ":", "a", "wall", ",", "no", "action", "here", "<|end|>"]
    assert action == ["action", ":", "go", "to", "red", "ball", "1", "<|end|>", "action", ":", "turn", "left", "<|end|>"]
    assert all(r + a == m and r >= 0 for r, a, m in zip(tokens.reasoning_mask, tokens.action_mask, tokens.assistant_mask))


def test_the_last_action_marker_starts_the_action_segment(tiny_tokenizer):
    chat = CHAT[:2] + [{"role": "assistant", "content": "Thought: action: go was wrong.\nAction: turn left"}]
    tokens = chat_tokens(tiny_tokenizer, chat)
    pieces = tiny_tokenizer.convert_ids_to_tokens(tokens.input_ids)
    assert [p for p, m in zip(pieces, tokens.action_mask) if m] == ["action", ":", "turn", "left", "<|end|>"]


def test_separator_after_end_of_turn_is_not_generated(tiny_tokenizer):
    """With a ChatML-like template the newline after the end token belongs to the prompt."""
    tiny_tokenizer = type(tiny_tokenizer).from_pretrained(tiny_tokenizer.name_or_path)
    tiny_tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}<|end|> . {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    tokens = chat_tokens(tiny_tokenizer, CHAT[:3])
    pieces = tiny_tokenizer.convert_ids_to_tokens(tokens.input_ids)
    assert pieces[-1] == "." and tokens.assistant_mask[-1] == 0 and tokens.assistant_mask[-2] == 1


def test_templates_that_rewrite_history_are_refused(tiny_tokenizer):
    tiny_tokenizer = type(tiny_tokenizer).from_pretrained(tiny_tokenizer.name_or_path)
    tiny_tokenizer.chat_template = "{{ messages | length }}{% for m in messages %} {{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="not prefix-stable at message 2"):
        chat_tokens(tiny_tokenizer, CHAT)


class CountingTokenizer:
    """The tiny tokenizer, noting each text it tokenizes."""

    def __init__(self, tokenizer):
        self.tokenizer, self.texts = tokenizer, []

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, text, **options):
        self.texts.append(text)
        return self.tokenizer(text, **options)


def test_pieces_give_the_prompt_ids_and_chat_tokens_of_whole_chats_and_are_each_tokenized_once(tiny_tokenizer):
    branch = [{"role": "assistant", "content": "Thought:  a zebra?\nAction: turn right "},
              {"role": "user", "content": " Walls: 1 step ahead.\n\nYou carry nothing."}]
    chats = [CHAT[:2], CHAT[:4], CHAT[:4] + branch, CHAT[:2] + branch, CHAT[:2] + branch + CHAT[2:4]]
    counting = CountingTokenizer(tiny_tokenizer)
    pieces = PieceTokenizer(counting, check_first=0)
    assert [prompt_ids(pieces, chat) for chat in chats] == [prompt_ids(tiny_tokenizer, chat) for chat in chats]
    ended = [chat for chat in chats if chat[-1]["role"] == "assistant"] + [CHAT[:3], CHAT]
    assert [chat_tokens(pieces, chat) for chat in ended] == [chat_tokens(tiny_tokenizer, chat) for chat in ended]
    assert [tokens_per_turn(pieces, chat) for chat in ended] == [tokens_per_turn(tiny_tokenizer, chat) for chat in ended]
    assert pieces.piecewise and len(counting.texts) == len(set(counting.texts))  # nothing tokenized twice
    assert all("<|end|>" not in text for text in counting.texts)


def test_the_piece_tokenizer_tokenizes_whole_chats_when_pieces_would_differ(tiny_tokenizer):
    """A special token that takes the spaces after it (rstrip) ends pieces differently."""
    import copy

    from tokenizers import AddedToken, pre_tokenizers

    stripping = copy.deepcopy(tiny_tokenizer)
    stripping.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # keeps newlines
    stripping.backend_tokenizer.add_special_tokens([AddedToken("<|user|>", rstrip=True, special=True)])
    pieces = PieceTokenizer(stripping)
    assert prompt_ids(pieces, CHAT[:4]) == prompt_ids(stripping, CHAT[:4]) and not pieces.piecewise
    assert prompt_ids(pieces, CHAT[:2]) == prompt_ids(stripping, CHAT[:2])
    assert chat_tokens(pieces, CHAT) == chat_tokens(stripping, CHAT)
