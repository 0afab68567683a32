"""The teacher's next-token distributions, kept as top-k (ids and log-probs) per position, and
the student's log-probs of the same ids: what ``depo_ray.losses.distill`` compares. Positions
are processed in chunks so the (positions × vocabulary) log-softmax never exists whole."""

from __future__ import annotations

import torch

CHUNK = 512
"""Positions per log-softmax chunk."""


def teacher_topk(logits: torch.Tensor, k: int, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """(…, L, V) logits -> the k most likely ids and their log-probs, each (…, L, k)."""
    ids, logps = [], []
    for part in logits.split(chunk, dim=-2):
        top = torch.log_softmax(part.float(), dim=-1).topk(min(k, part.shape[-1]), dim=-1)
        ids.append(top.indices)
        logps.append(top.values)
    return torch.cat(ids, dim=-2), torch.cat(logps, dim=-2)


def student_logps_at(logits: torch.Tensor, ids: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """(…, L, V) student logits -> its log-probs of ``ids`` (…, L, k), with gradient."""
    parts = [torch.log_softmax(part.float(), dim=-1).gather(-1, index)
             for part, index in zip(logits.split(chunk, dim=-2), ids.split(chunk, dim=-2))]
    return torch.cat(parts, dim=-2)


def teacher_entropy(logps: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean entropy of the teacher's coarsened distribution (top-k plus the rest) over the
    masked positions: the curriculum's measure of how uncertain the teacher is on a trajectory."""
    p = logps.exp()
    rest = (1 - p.sum(-1)).clamp(min=0)
    entropy = -(p * logps).sum(-1) - rest * torch.log(rest.clamp(min=1e-12))
    mask = mask.to(entropy.dtype)
    return float((entropy * mask).sum() / mask.sum().clamp(min=1))
