"""The CPU default policy: a tiny Llama-style causal LM and a word-level tokenizer.

There is no model hub offline, so the CPU default builds its own model. The tokenizer's
vocabulary is every word the environments produce (lowercased; ``vocabulary_of`` reads it
off the texts an environment lists), with a chat template and special tokens for roles; the
model uses head_dim 64 because vLLM's CPU attention rejects smaller heads. Both are saved
with ``save_pretrained`` so transformers, peft and vLLM load the folder like any Hugging Face
model.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from depo_ray.models.config import TinyModelConfig

ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
EOS, PAD, UNK = "<|end|>", "<|pad|>", "<|unk|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


# A word or punctuation mark with the single space before it, or a run of other whitespace.
SPACED_PIECE = r" ?\w+| ?[^\w\s]|\s+"
WHITESPACE_RUNS = (" ", "\n", "\n\n", "  ")
_SPLIT = pre_tokenizers.Split(Regex(SPACED_PIECE), behavior="isolated")


def words(text: str) -> list[str]:
    """The words of ``text`` as the tokenizers split them (lowercased words and single
    punctuation marks), by the tokenizers library's own regex engine, whose ``\w`` the
    vocabulary must share."""
    pieces = (piece.lstrip(" ") for piece, _ in _SPLIT.pre_tokenize_str(text.lower()))
    return [piece for piece in pieces if piece and not piece.isspace()]


def vocabulary_of(texts: Iterable[str]) -> set[str]:
    """The words of ``texts`` (an environment's ``vocabulary_texts``): the vocabulary
    ``build_tokenizer`` and ``build_tiny_policy`` take."""
    return {word for text in texts for word in words(text)}


def build_tokenizer(vocabulary: set[str], keep_spacing: bool = False) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``vocabulary`` (lowercased words) and punctuation. ``keep_spacing``:
    each token carries the space before it, so decoding gives back the text character for
    character (WebShop's clicks must match "x-large" or "3.4 fl oz (pack of 1)" exactly);
    otherwise words are rejoined with single spaces, which BabyAI's texts tolerate."""
    specials = [PAD, UNK, EOS, *ROLE_TOKENS]
    vocab = {token: i for i, token in enumerate(specials)}
    pieces = sorted({w.lower() for w in vocabulary} | set(string.punctuation))
    if keep_spacing:
        pieces = [*pieces, *(" " + piece for piece in pieces), *WHITESPACE_RUNS]
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    if keep_spacing:
        core.pre_tokenizer = _SPLIT
        core.decoder = decoders.Fuse()
    else:
        core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # words and single punctuation marks
        core.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words, tidies " ." -> "."
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS), clean_up_tokenization_spaces=False,  # as vLLM decodes
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_policy(vocabulary: set[str], output_dir: str | Path, config: TinyModelConfig | None = None,
                      keep_spacing: bool = False) -> Path:
    """Build, randomly initialise and save the tiny model and its tokenizer (see
    ``build_tokenizer``); return the folder."""
    config = config or TinyModelConfig()
    tokenizer = build_tokenizer(vocabulary, keep_spacing)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.hidden_size // 64,
        num_key_value_heads=config.hidden_size // 64,
        head_dim=64,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(model_config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
