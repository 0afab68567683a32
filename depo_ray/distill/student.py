"""A smaller student cut from its teacher: the teacher's embeddings, final norm and head, and
a subset of its transformer layers. Same tokenizer, so distillation compares their
distributions token by token; the student starts close to the teacher instead of at random."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from depo_ray.files import replaced_atomically
from depo_ray.models.loading import load_tokenizer


def student_from_teacher(teacher: str | Path, folder: str | Path, layers: tuple[int, ...]) -> Path:
    """Save at ``folder`` the teacher with only ``layers`` (indices, in order) and its tokenizer."""
    model = AutoModelForCausalLM.from_pretrained(teacher, torch_dtype=torch.float32)
    count = model.config.num_hidden_layers
    if not layers or sorted(set(layers)) != list(layers) or not all(0 <= i < count for i in layers):
        raise ValueError(f"layers: expected increasing indices below the teacher's {count} layers, got {list(layers)}")
    model.model.layers = torch.nn.ModuleList(model.model.layers[i] for i in layers)
    for position, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = position  # the KV cache is indexed by position in the stack
    model.config.num_hidden_layers = len(layers)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in layers]
    folder = Path(folder)
    with replaced_atomically(folder) as tmp:  # an interrupted save leaves no half folder behind
        model.save_pretrained(tmp)
        load_tokenizer(str(teacher)).save_pretrained(tmp)
    return folder
