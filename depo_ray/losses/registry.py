"""Name -> loss function. Every loss takes (batch, config, reduce_sum) and returns
(loss tensor, metrics dict). A loss with quantities that must come from the whole global batch
(not from one micro-batch) registers a ``prepare`` step that fills them into the batch.

A loss registers itself (``@register_loss``) when its module is imported. The built-in ones
are imported on first use (``BUILTIN_LOSSES``), so a config can check a loss's name without
loading torch; a new built-in loss is its module plus one entry there, and the trainer is not
touched. A loss registered by the user's own code is found the same way.
"""

from __future__ import annotations

import importlib
from typing import Callable

from depo_ray.losses.config import LossConfig

BUILTIN_LOSSES = {"sft": "depo_ray.losses.sft", "kto": "depo_ray.losses.preference",
                  "depo": "depo_ray.losses.preference", "depo_penalty": "depo_ray.losses.preference",
                  "depo_weighted": "depo_ray.losses.preference", "token_kd": "depo_ray.losses.distill",
                  "sad": "depo_ray.losses.distill"}
"""Built-in loss -> the module that registers it."""

LOSSES: dict[str, Callable] = {}
PREPARE_STEPS: dict[str, Callable] = {}


def register_loss(name: str, prepare: Callable | None = None):
    """Register a loss under ``name``. ``prepare(batch, config, reduce_sum) -> batch``, when
    given, runs once per step on a worker's whole local batch, before the training loop splits
    it into micro-batches: it fills in per-sample values that depend on the global batch
    (reduced across workers with ``reduce_sum``), so every micro-batch sees the same values."""
    def decorator(fn: Callable) -> Callable:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is already registered")
        LOSSES[name] = fn
        if prepare is not None:
            PREPARE_STEPS[name] = prepare
        return fn

    return decorator


def loss_names() -> list[str]:
    """Every loss a config may name: the built-in ones and those registered so far."""
    return sorted(set(BUILTIN_LOSSES) | set(LOSSES))


def _registered(name: str) -> None:
    if name not in LOSSES and name in BUILTIN_LOSSES:
        importlib.import_module(BUILTIN_LOSSES[name])


def prepare_batch(name: str, batch, config: LossConfig, reduce_sum: Callable):
    """The batch with what loss ``name`` computes over the global batch filled in (unchanged
    for a loss without a prepare step)."""
    _registered(name)
    prepare = PREPARE_STEPS.get(name)
    return batch if prepare is None else prepare(batch, config, reduce_sum)


def get_loss(name: str) -> Callable:
    _registered(name)
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; registered: {loss_names()}") from None
