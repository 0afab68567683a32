"""Serving one policy after another from the same vLLM engines: the evaluate stage plays
every (method, seed) policy in turn, and on 2 cores an engine start costs about 30 s while
loading a small policy's weights into a running engine takes well under one. Policies that
share an architecture, tokenizer and generation defaults (every policy one run trains) are
loaded into the running replicas; any other gets an engine of its own."""

from __future__ import annotations

import json
from pathlib import Path

WORKER_EXTENSION = "depo_ray.serving.swap.PolicyWeights"
"""Given to vLLM as ``worker_extension_cls``: its methods run in the engine's worker."""

_SAME_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
               "generation_config.json")
"""Files two policies must share, byte for byte, to be served from one engine: the engine
keeps the first one's tokenizer (it decodes answers) and generation defaults."""


def _architecture(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text())
    return {key: value for key, value in config.items() if key not in ("_name_or_path", "transformers_version")}


def shares_engine(served: str | Path, other: str | Path) -> bool:
    """Whether ``other`` can be loaded into an engine serving ``served``: two local model
    folders with the same config.json (but for their names) and the same tokenizer and
    generation files."""
    a, b = Path(served), Path(other)
    if not ((a / "config.json").is_file() and (b / "config.json").is_file()):
        return False
    if _architecture(a) != _architecture(b):
        return False
    for name in _SAME_FILES:
        here, there = a / name, b / name
        if here.exists() != there.exists() or (here.exists() and here.read_bytes() != there.read_bytes()):
            return False
    return True


class PolicyWeights:
    """vLLM worker extension: ``load_policy`` replaces the weights in place."""

    def load_policy(self, path: str) -> None:
        self.reload_weights(weights_path=path)
        # vLLM CPU keeps a packed copy of the LM head's weight for its matmul kernel. With
        # tied embeddings the reload refills the embedding but leaves that copy stale, so
        # the head is packed again from the new weight (checked against a fresh engine).
        head = getattr(self.model_runner.get_model(), "lm_head", None)
        if head is not None and hasattr(head, "cpu_linear") and head.weight.numel():
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

            dispatch_cpu_unquantized_gemm(head, remove_weight=False)
