"""Load any policy (a Hugging Face id or a local folder) through one pair of functions."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def load_tokenizer(name_or_path: str):
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.chat_template is None:
        raise ValueError(f"{name_or_path}: the tokenizer has no chat template; DEPO needs one to mask assistant turns")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str, dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu"):
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype).to(device)
