"""Distillation's side of training (losses token_kd and sad): the teacher scores every
trajectory once (its top-k next-token distributions at the assistant positions, and the
curriculum's complexity parts), and each step compares the student's distributions with
them, micro-batch by micro-batch.

A scored row keeps, per assistant target position in order, the teacher's k token ids and
log-probs, flattened: ``teacher_ids`` and ``teacher_logps`` hold n·k values for n positions.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from depo_ray.distill.teacher import student_logps_at, teacher_entropy, teacher_topk
from depo_ray.losses.distill import DistillBatch
from depo_ray.train.logprobs import pad


def target_positions(mask: list[int]) -> list[int]:
    """Positions t whose next token (t + 1) is an assistant token: where a loss compares
    the next-token distributions."""
    return [t for t in range(len(mask) - 1) if mask[t + 1]]


class ScoreWithTeacher:
    """Ray Data map_batches callable: add the teacher's top-k ids and log-probs at each row's
    assistant positions, and the complexity parts the curriculum scores."""

    def __init__(self, teacher_path: str, top_k: int):
        from depo_ray.models.loading import load_model

        self.model = load_model(teacher_path).eval()
        self.top_k = top_k

    def score(self, input_ids: list[int], assistant_mask: list[int]) -> tuple[list[int], list[float], float]:
        positions = torch.tensor(target_positions(assistant_mask))
        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([input_ids]), use_cache=False, logits_to_keep=positions).logits
        ids, logps = teacher_topk(logits[0], self.top_k)
        return ids.flatten().tolist(), logps.flatten().tolist(), teacher_entropy(logps, torch.ones(len(positions)))

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        for row in rows:
            row["teacher_ids"], row["teacher_logps"], row["teacher_entropy"] = self.score(row["input_ids"],
                                                                                           row["assistant_mask"])
            row["action_tokens"] = sum(row["action_mask"])
            row["reasoning_tokens"] = sum(row["assistant_mask"]) - row["action_tokens"]
        return pa.Table.from_pylist(rows)


def _aligned(values: list[list], masks: torch.Tensor, positions: torch.Tensor, k: int, fill: float) -> torch.Tensor:
    """(B, P, k): each sample's flattened per-position top-k values placed at the kept
    positions where its next token is an assistant token; ``fill`` elsewhere (masked out)."""
    out = torch.full((len(values), len(positions), k), fill)
    for i, flat in enumerate(values):
        where = masks[i].nonzero().squeeze(1)
        out[i, where] = torch.tensor(flat, dtype=out.dtype).view(-1, k)
    return out


def distill_step(model, part, pad_id, loss_fn, config, backward: bool = True):
    """Accumulate the gradient of the loss over the whole global batch: each segment's KL is
    divided by that segment's token count in the global batch, so micro-batching and the
    number of workers change nothing."""
    from depo_ray.train.loop import all_reduce_sum, gradient_sync, micro_batches, pick

    k = config.teacher_top_k
    world = dist.get_world_size() if dist.is_initialized() else 1
    action_count = sum(sum(m[1:]) for m in part["action_mask"])
    counts = all_reduce_sum(torch.tensor([float(sum(sum(m[1:]) for m in part["assistant_mask"]) - action_count),
                                          float(action_count)]))
    reasoning_norm, action_norm = (counts / world).clamp(min=1).tolist()
    device = next(model.parameters()).device
    groups = micro_batches(part["input_ids"], config.micro_batch_size)
    total, parts = torch.zeros(()), {}
    for number, group in enumerate(groups):
        with gradient_sync(model, last=number == len(groups) - 1):
            input_ids = pad(pick(part, "input_ids", group), pad_id).to(device)
            attention = pad([[1] * len(s) for s in pick(part, "input_ids", group)], 0).to(device)
            assistant = pad(pick(part, "assistant_mask", group), 0)[:, 1:]
            action = pad(pick(part, "action_mask", group), 0)[:, 1:]
            positions = assistant.any(dim=0).nonzero().squeeze(1)
            assistant, action = assistant[:, positions], action[:, positions]
            ids = _aligned(pick(part, "teacher_ids", group), assistant, positions, k, 0).long().to(device)
            teacher = _aligned(pick(part, "teacher_logps", group), assistant, positions, k, -math.log(k))
            logits = model(input_ids=input_ids, attention_mask=attention, use_cache=False,
                           logits_to_keep=positions.to(device)).logits
            batch = DistillBatch(student_logps_at(logits, ids), teacher.to(device), (assistant - action).to(device),
                                 action.to(device), reasoning_norm=reasoning_norm, action_norm=action_norm)
            loss, metrics = loss_fn(batch, config.loss)
            if backward:
                (loss * world).backward()
        total += loss.detach().cpu()
        for key, value in metrics.items():
            parts[key] = parts.get(key, 0.0) + value
    metrics = {key: all_reduce_sum(torch.tensor(float(value))).item() / (world if "kl" in key else 1)
               for key, value in parts.items()}
    metrics["loss"] = all_reduce_sum(total).item() / world
    return metrics, sum(len(s) for s in part["input_ids"])
