"""Name -> loss function. Every loss takes (batch, config, reduce_sum) and returns
(loss tensor, metrics dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

LOSSES: dict[str, Callable] = {}


def register_loss(name: str):
    def decorator(fn: Callable) -> Callable:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is already registered")
        LOSSES[name] = fn
        return fn

    return decorator


def get_loss(name: str) -> Callable:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; registered: {sorted(LOSSES)}") from None


@dataclass(frozen=True)
class LossConfig:
    name: str = "depo"
    """Registered loss: "sft", "kto", "depo" or "depo_penalty"."""
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

    def __post_init__(self):
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta}")
        for name in ("lambda_d", "lambda_u", "alpha1", "alpha2"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
