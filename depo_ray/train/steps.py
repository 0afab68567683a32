"""One optimizer step's work on a worker's slice of a global batch, for every kind of loss:
``sft_step`` (BC), ``preference_step`` (KTO, DEPO and variants) and ``distill_step`` (token_kd,
sad), with the micro-batching and the cross-worker sums they share. ``train_loop`` picks one per
loss; the steps know nothing of Ray Train.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.distributed as dist

from depo_ray.distill.teacher import student_logps_at
from depo_ray.losses.distill import DistillBatch
from depo_ray.losses.preference import PreferenceBatch, kl_reference_point
from depo_ray.losses.registry import prepare_batch
from depo_ray.losses.sft import SFTBatch
from depo_ray.train.logprobs import masked_logps, pad, sequence_logps


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def micro_batches(sequences, size: int | None) -> list[list[int]]:
    """Index groups of at most ``size`` sequences, formed after sorting by length so each
    forward pass pads little; None gives one group with the whole local batch."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    size = size or len(order)
    return [order[i: i + size] for i in range(0, len(order), size)]


def gradient_sync(model, last: bool):
    """DDP all-reduces gradients on the last micro-batch only."""
    return contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()


def pick(part: dict, key: str, indices: list[int]) -> list:
    return [part[key][i] for i in indices]


def sft_step(model, part, pad_id, loss_fn, config, backward: bool = True):
    """Accumulate the gradient of the mean NLL over every assistant token of the global batch."""
    # Normalise by the global token count: DDP's gradient average then equals the gradient of
    # the mean over every assistant token of the global batch, whatever the worker count.
    local_tokens = sum(sum(mask[1:]) for mask in part["assistant_mask"])
    global_tokens = all_reduce_sum(torch.tensor(float(local_tokens)))
    world = dist.get_world_size() if dist.is_initialized() else 1
    groups = micro_batches(part["input_ids"], config.micro_batch_size)
    total = torch.zeros(())
    for number, group in enumerate(groups):
        with gradient_sync(model, last=number == len(groups) - 1):
            token_logps, mask = masked_logps(model, pick(part, "input_ids", group), pick(part, "assistant_mask", group), pad_id)
            group_loss, _ = loss_fn(SFTBatch(token_logps, mask), config.loss)
            weighted = group_loss * mask.sum()
            if backward:
                (weighted / global_tokens * world).backward()
        total += weighted.detach().cpu()
    return {"loss": (all_reduce_sum(total) / global_tokens).item()}, sum(len(s) for s in part["input_ids"])


def preference_step(model, part, pad_id, loss_fn, config, backward: bool = True):
    """z0 and the loss's prepare step first (no gradient, whole local batch, reduced across
    workers), then the policy log-probs and the loss micro-batch by micro-batch; the metrics
    cover the whole batch."""
    n = len(part["input_ids"])
    groups = micro_batches(part["input_ids"], config.micro_batch_size)
    as_tensor = lambda key, dtype=torch.float32: torch.tensor(part[key], dtype=dtype)  # noqa: E731
    kl_policy = torch.empty(n)
    with torch.no_grad():
        for group in groups:
            kl_policy[group] = sequence_logps(model, pick(part, "kl_input_ids", group), pick(part, "kl_assistant_mask", group), pad_id).float().cpu()
    whole = PreferenceBatch(
        policy_logps=torch.empty(n), reference_logps=as_tensor("ref_logps"),
        kl_policy_logps=kl_policy, kl_reference_logps=as_tensor("kl_ref_logps"),
        desirable=as_tensor("desirable", torch.bool), tokens_per_step=as_tensor("tokens_per_step"), steps=as_tensor("steps"),
    )
    whole.z0 = kl_reference_point(whole.kl_policy_logps, whole.kl_reference_logps, all_reduce_sum)
    whole = prepare_batch(config.loss.name, whole, config.loss, all_reduce_sum)
    for number, group in enumerate(groups):
        with gradient_sync(model, last=number == len(groups) - 1):
            policy = sequence_logps(model, pick(part, "input_ids", group), pick(part, "assistant_mask", group), pad_id)
            if backward:
                device = policy.device
                fields = {key: value[group].to(device) for key, value in vars(whole).items()
                          if key not in ("policy_logps", "z0") and value is not None}
                group_loss, _ = loss_fn(PreferenceBatch(policy_logps=policy.float(), z0=whole.z0.to(device), **fields), config.loss)
                (group_loss * len(group) / n).backward()
        whole.policy_logps[group] = policy.detach().float().cpu()
    loss, metrics = loss_fn(whole, config.loss, all_reduce_sum)
    metrics["loss"] = (all_reduce_sum(loss.detach()) / (dist.get_world_size() if dist.is_initialized() else 1)).item()
    tokens = sum(len(s) for s in part["input_ids"]) + sum(len(s) for s in part["kl_input_ids"])
    return metrics, tokens


def target_positions(mask: list[int]) -> list[int]:
    """Positions t whose next token (t + 1) is an assistant token: where a loss compares
    the next-token distributions."""
    return [t for t in range(len(mask) - 1) if mask[t + 1]]


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
