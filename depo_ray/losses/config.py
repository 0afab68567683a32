"""A loss's settings, and which built-in losses reward efficiency or distil a teacher (no
torch: configs load without the training runtime)."""

from __future__ import annotations

from dataclasses import dataclass


EFFICIENCY_SETTINGS = {"depo": ("alpha1", "alpha2"), "depo_penalty": ("alpha1", "alpha2"),
                       "depo_weighted": ("gamma_token", "gamma_step")}
"""The losses that reward efficiency, each with the LossConfig fields that set how much."""


DISTILL_LOSSES = ("token_kd", "sad")
"""Losses that train a student on a teacher's distributions (TrainConfig.teacher)."""


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
