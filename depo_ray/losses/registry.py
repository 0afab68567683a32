"""Name -> loss function. Every loss takes (batch, config, reduce_sum) and returns
(loss tensor, metrics dict). A loss with quantities that must come from the whole global batch
(not from one micro-batch) registers a ``prepare`` step that fills them into the batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


def prepare_batch(name: str, batch, config: LossConfig, reduce_sum: Callable):
    """The batch with what loss ``name`` computes over the global batch filled in (unchanged
    for a loss without a prepare step)."""
    prepare = PREPARE_STEPS.get(name)
    return batch if prepare is None else prepare(batch, config, reduce_sum)


def get_loss(name: str) -> Callable:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; registered: {sorted(LOSSES)}") from None


@dataclass(frozen=True)
class LossConfig:
    name: str = "depo"
    """Registered loss: "sft", "kto", "depo", "depo_penalty", "depo_weighted", or for
    distillation from a teacher "token_kd" and "sad"."""
    beta: float = 0.2
    """KTO temperature β."""
    lambda_d: float = 1.0
    """Weight λ_D of desirable samples."""
    lambda_u: float = 1.0
    """Weight λ_U of undesirable samples."""
    alpha1: float = 3.0
    """Step-level efficiency weight: bonus α1 / T̄_token (paper: 3 for Llama-3.1-8B, 2 for Qwen2.5-7B)."""
    alpha2: float = 3.0
    """Trajectory-level efficiency weight: bonus α2 / T_step."""
    gamma_token: float = 0.5
    """depo_weighted: strength of the tokens-per-turn term of the desirable weight,
    w ∝ T̄_token^(−γ_token); 0 leaves tokens per turn out."""
    gamma_step: float = 0.5
    """depo_weighted: strength of the turns term of the desirable weight, w ∝ T_step^(−γ_step);
    0 leaves the number of turns out. Both at 0: KTO exactly."""
    reasoning_weight: float = 1.0
    """sad: weight of the reasoning-segment KL (L_CoT); 0 drops the reasoning supervision."""
    action_weight: float = 1.0
    """sad: weight of the action-segment KL (L_Act); 0 drops the action supervision."""

    def __post_init__(self):
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta}")
        for name in ("lambda_d", "lambda_u", "alpha1", "alpha2", "gamma_token", "gamma_step", "reasoning_weight",
                     "action_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
