"""Distillation from a teacher's next-token distributions: token-level KD (one KL over every
assistant token) and Structured Agent Distillation (SAD: one KL over the reasoning segment,
one over the action segment, weighted).

Memory stays bounded for large vocabularies: the teacher keeps its top-k tokens per position
(``depo_ray.distill.teacher``), and the KL is taken between the two distributions coarsened
to those k tokens plus one bucket for the rest of the vocabulary. That is exact when k is the
vocabulary, and otherwise a lower bound on the exact KL (merging outcomes never raises a KL).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from depo_ray.losses.config import LossConfig
from depo_ray.losses.registry import register_loss


@dataclass
class DistillBatch:
    student_logps: torch.Tensor  # (B, L, k) the student's log-probs of the teacher's top-k tokens, with gradient
    teacher_logps: torch.Tensor  # (B, L, k) the teacher's log-probs of the same tokens
    reasoning_mask: torch.Tensor  # (B, L) 1 where the next token is in a reasoning segment
    action_mask: torch.Tensor  # (B, L) 1 where the next token is in an action segment
    reasoning_norm: float | None = None
    """Divisor of the reasoning KL sum: that segment's tokens in the whole global batch per
    worker (micro-batches and DDP then give the global mean); None: this batch's own count."""
    action_norm: float | None = None
    """The same for the action segment."""


def _log_rest(logps: torch.Tensor) -> torch.Tensor:
    """log of the probability left outside the k tokens, kept finite when they hold it all."""
    covered = logps.exp().sum(-1).clamp(max=1 - 1e-6)
    return torch.log1p(-covered)


def coarse_kl(teacher_logps: torch.Tensor, student_logps: torch.Tensor) -> torch.Tensor:
    """KL(teacher ‖ student) per position, over the k tokens and the rest-of-vocabulary bucket."""
    teacher_p = teacher_logps.exp()
    top = (teacher_p * (teacher_logps - student_logps)).sum(-1)
    rest_teacher, rest_student = _log_rest(teacher_logps), _log_rest(student_logps)
    return top + rest_teacher.exp() * (rest_teacher - rest_student)


def _segment_mean(values: torch.Tensor, mask: torch.Tensor, norm: float | None) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / (mask.sum().clamp(min=1) if norm is None else norm)


@register_loss("token_kd")
def token_kd_loss(batch: DistillBatch, config: LossConfig, reduce_sum=None):
    kl = coarse_kl(batch.teacher_logps, batch.student_logps)
    assistant = batch.reasoning_mask + batch.action_mask
    norm = None if batch.reasoning_norm is None else batch.reasoning_norm + batch.action_norm
    loss = _segment_mean(kl, assistant, norm)
    return loss, {"kl": float(loss.detach()), "tokens": int(assistant.sum())}


@register_loss("sad")
def sad_loss(batch: DistillBatch, config: LossConfig, reduce_sum=None):
    kl = coarse_kl(batch.teacher_logps, batch.student_logps)
    reasoning = _segment_mean(kl, batch.reasoning_mask, batch.reasoning_norm)
    action = _segment_mean(kl, batch.action_mask, batch.action_norm)
    loss = config.reasoning_weight * reasoning + config.action_weight * action
    return loss, {"kl_reasoning": float(reasoning.detach()), "kl_action": float(action.detach()),
                  "reasoning_tokens": int(batch.reasoning_mask.sum()), "action_tokens": int(batch.action_mask.sum())}
