"""KTO and DEPO on sequence log-probabilities (pure torch, no Ray).

r_θ(τ)  = log π_θ(τ) − log π_BC(τ), summed over assistant tokens
b(τ)    = α1 / T̄_token(τ) + α2 / T_step(τ)            (desirable samples only)
z0      = max(0, mean over the global batch of [log π_θ(y′|x) − log π_BC(y′|x)])
          on mismatched pairs (x_i, y′ = y_{i−1}), computed without gradient and reduced
          across workers as (sum, count)
desirable    λ_D · (1 − σ(β · (r_θ + b − z0)))
undesirable  λ_U · (1 − σ(β · (z0 − r_θ)))
loss = mean over the local batch; with equal local batch sizes DDP's gradient average is
the mean over the global batch.

"depo_penalty" (the paper's ablation, off by default) also puts b(τ) into the undesirable
branch: λ_U · (1 − σ(β · (z0 − r_θ + b))), so efficiency eases the push-down of undesirable
trajectories as it eases the push-up of desirable ones. α1 = α2 = 0 gives KTO exactly.

"depo_weighted" (not the paper's) weights the desirable term by efficiency instead:
λ_D · w(τ) · (1 − σ(β · (r_θ − z0))), with w of ``efficiency_weights``. Its gradient on a
desirable log-ratio is w(τ) times KTO's, so an efficient trajectory is pushed up harder than
a less efficient one with the same r_θ in every regime; the bonus b, which only shifts the
sigmoid's argument, does the opposite wherever β(r_θ + b − z0) > 0. γ_token = γ_step = 0
gives KTO exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

from depo_ray.losses.config import LossConfig
from depo_ray.losses.registry import register_loss

ReduceSum = Callable[[torch.Tensor], torch.Tensor]

def local_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The reduction for a single process: nothing to add."""
    return tensor


@dataclass
class PreferenceBatch:
    policy_logps: torch.Tensor  # (B,) with gradient
    reference_logps: torch.Tensor  # (B,) precomputed under π_BC
    kl_policy_logps: torch.Tensor  # (B,) policy on mismatched pairs (no gradient needed)
    kl_reference_logps: torch.Tensor  # (B,) π_BC on mismatched pairs
    desirable: torch.Tensor  # (B,) bool
    tokens_per_step: torch.Tensor  # (B,) T̄_token
    steps: torch.Tensor  # (B,) T_step
    z0: torch.Tensor | None = None  # set when z0 was computed over a larger batch (micro-batching)
    efficiency_weights: torch.Tensor | None = None  # (B,) depo_weighted's w, set when computed over a larger batch


def efficiency_bonus(tokens_per_step: torch.Tensor, steps: torch.Tensor, alpha1: float, alpha2: float) -> torch.Tensor:
    return alpha1 / tokens_per_step.clamp(min=1e-8) + alpha2 / steps.clamp(min=1e-8)


def kl_reference_point(kl_policy_logps, kl_reference_logps, reduce_sum: ReduceSum = local_sum) -> torch.Tensor:
    """z0 from mismatched pairs: global mean via (sum, count), clamped at zero, no gradient."""
    if kl_policy_logps.numel() < 2:
        raise ValueError(
            f"preference losses need a local batch of at least 2 (got {kl_policy_logps.numel()}): "
            "z0 pairs each sample with its neighbour, and a batch of 1 pairs a sample with itself"
        )
    with torch.no_grad():
        gap = kl_policy_logps - kl_reference_logps
        totals = reduce_sum(torch.stack([gap.sum(), torch.tensor(float(gap.numel()), dtype=gap.dtype, device=gap.device)]))
        return (totals[0] / totals[1]).clamp(min=0)


def efficiency_weights(tokens_per_step: torch.Tensor, steps: torch.Tensor, desirable: torch.Tensor, gamma_token: float,
                       gamma_step: float, reduce_sum: ReduceSum = local_sum) -> torch.Tensor:
    """depo_weighted's per-trajectory weight of the desirable term (no gradient):

        w(τ) = u(τ) / mean_D u,   u(τ) = T̄_token(τ)^(−γ_token) · T_step(τ)^(−γ_step)

    with the mean over the global batch's desirable trajectories D, reduced across workers as
    (sum, count) like z0; entries outside D are 1 and unused.

    Why this form: a power law depends only on ratios, (T̄/T̄′)^(−γ_token) · (T/T′)^(−γ_step),
    so tokens per turn (tens) and turns (a few) are on the same footing (halving either
    multiplies the weight by 2^γ) whatever their units or typical size; it is positive with no
    clamp, and γ = 0 makes a term drop out. Dividing by the mean over D makes the mean weight 1:
    efficiency reweights desirable trajectories among themselves and does not raise λ_D.
    u is centred on D's mean log before exponentiating, which cancels in the ratio and keeps
    large γ from overflowing.
    """
    with torch.no_grad():
        in_d = desirable.bool()
        d = in_d.to(tokens_per_step.dtype)
        log_u = -gamma_token * tokens_per_step.clamp(min=1e-8).log() - gamma_step * steps.clamp(min=1e-8).log()
        log_totals = reduce_sum(torch.stack([(log_u * d).sum(), d.sum()]))
        if log_totals[1] == 0:
            return torch.ones_like(log_u)
        u = (log_u - log_totals[0] / log_totals[1]).exp()
        mean_u = reduce_sum((u * d).sum()) / log_totals[1]
        return torch.where(in_d, u / mean_u, torch.ones_like(u))


def _preference_loss(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum, with_bonus: bool = False,
                     bonus_on_undesirable: bool = False, weighted: bool = False):
    z0 = batch.z0 if batch.z0 is not None else kl_reference_point(batch.kl_policy_logps, batch.kl_reference_logps, reduce_sum)
    logratio = batch.policy_logps - batch.reference_logps
    bonus = (
        efficiency_bonus(batch.tokens_per_step, batch.steps, config.alpha1, config.alpha2)
        if with_bonus else torch.zeros_like(logratio)
    )
    desirable = batch.desirable.bool()
    if not weighted:
        weights = torch.ones_like(logratio)
    elif batch.efficiency_weights is not None:
        weights = batch.efficiency_weights
    else:
        weights = efficiency_weights(batch.tokens_per_step, batch.steps, desirable, config.gamma_token,
                                     config.gamma_step, reduce_sum)
    undesirable_shift = bonus if bonus_on_undesirable else torch.zeros_like(bonus)
    losses = torch.where(
        desirable,
        config.lambda_d * weights * (1 - F.sigmoid(config.beta * (logratio + bonus - z0))),
        config.lambda_u * (1 - F.sigmoid(config.beta * (z0 - logratio + undesirable_shift))),
    )
    rewards = config.beta * logratio.detach()
    # Means over the global batch, reduced as (sum, count) like z0.
    d, u = desirable.to(rewards.dtype), (~desirable).to(rewards.dtype)
    totals = [(rewards * d).sum(), d.sum(), (rewards * u).sum(), u.sum(), (bonus.detach() * d).sum()]
    if weighted:
        totals.append((weights.to(rewards.dtype) ** 2 * d).sum())
    sums = reduce_sum(torch.stack(totals))
    # None, not NaN, for a class absent from the batch: metrics.jsonl stays valid JSON
    mean = lambda total, count: (total / count).item() if count > 0 else None  # noqa: E731
    metrics = {
        "z0": z0.item(),
        "reward_desirable": mean(sums[0], sums[1]),
        "reward_undesirable": mean(sums[2], sums[3]),
        "bonus": (mean(sums[4], sums[1]) or 0.0) if with_bonus else 0.0,
        "count_desirable": int(sums[1]),
        "count_undesirable": int(sums[3]),
    }
    if weighted:
        # spread of w over D; its mean is 1, so the variance is E_D[w²] − 1
        second_moment = mean(sums[5], sums[1])
        metrics["weight_std"] = max(0.0, second_moment - 1) ** 0.5 if second_moment is not None else None
    return losses.mean(), metrics


@register_loss("kto")
def kto_loss(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum = local_sum):
    return _preference_loss(batch, config, reduce_sum)


@register_loss("depo")
def depo_loss(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum = local_sum):
    return _preference_loss(batch, config, reduce_sum, with_bonus=True)


@register_loss("depo_penalty")
def depo_penalty_loss(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum = local_sum):
    return _preference_loss(batch, config, reduce_sum, bonus_on_undesirable=True, with_bonus=True)


def _with_efficiency_weights(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum) -> PreferenceBatch:
    """w over the global batch, so each micro-batch weighs its trajectories as the whole batch does."""
    return replace(batch, efficiency_weights=efficiency_weights(batch.tokens_per_step, batch.steps, batch.desirable,
                                                                config.gamma_token, config.gamma_step, reduce_sum))


@register_loss("depo_weighted", prepare=_with_efficiency_weights)
def depo_weighted_loss(batch: PreferenceBatch, config: LossConfig, reduce_sum: ReduceSum = local_sum):
    """KTO with the desirable term weighted by efficiency: λ_D · w(τ) · (1 − σ(β(r_θ − z0))),
    w from ``efficiency_weights`` (γ_token, γ_step); the undesirable term is KTO's. α1 and α2
    are not used."""
    return _preference_loss(batch, config, reduce_sum, weighted=True)
