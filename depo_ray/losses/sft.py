"""Behaviour cloning: cross-entropy on assistant tokens only."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from depo_ray.losses.config import LossConfig
from depo_ray.losses.registry import register_loss


@dataclass
class SFTBatch:
    token_logps: torch.Tensor  # (B, L) log-prob of each next token, with gradient
    assistant_mask: torch.Tensor  # (B, L) 1 where the next token is an assistant token


@register_loss("sft")
def sft_loss(batch: SFTBatch, config: LossConfig, reduce_sum=None):
    mask = batch.assistant_mask.to(batch.token_logps.dtype)
    tokens = mask.sum().clamp(min=1)
    loss = -(batch.token_logps * mask).sum() / tokens
    return loss, {"tokens": int(mask.sum())}
