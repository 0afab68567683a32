"""Log-probabilities of token sequences under a causal LM: the one forward pass that BC, the
reference precompute and DEPO all use."""

from __future__ import annotations

from typing import Sequence

import torch


def pad(sequences: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad to the longest sequence: (B, L)."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def next_token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     positions: torch.Tensor) -> torch.Tensor:
    """(B, P): log p(token t+1 | tokens <= t) for each t in ``positions``.

    Only those positions go through the LM head: with a large vocabulary and long observations
    the (B, L, vocab) logits are most of a step's time and memory."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                   logits_to_keep=positions).logits.float()
    targets = input_ids[:, positions + 1]
    # gather - logsumexp instead of log_softmax: no second (B, P, vocab) tensor kept for backward
    return logits.gather(2, targets[:, :, None]).squeeze(2) - torch.logsumexp(logits, dim=-1)


def masked_logps(model, sequences, masks, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of the next tokens at the positions where any sequence's next token counts,
    and the mask of those that count for each sequence (both (B, P))."""
    device = next(model.parameters()).device
    input_ids = pad(sequences, pad_id).to(device)
    attention = pad([[1] * len(s) for s in sequences], 0).to(device)
    target_mask = pad(masks, 0).to(device)[:, 1:]
    positions = target_mask.any(dim=0).nonzero().squeeze(1)
    return next_token_logps(model, input_ids, attention, positions), target_mask[:, positions]


def sequence_logps(model, sequences, masks, pad_id: int) -> torch.Tensor:
    """(B,): log-probability of the masked (assistant) tokens of each sequence, summed."""
    logps, mask = masked_logps(model, sequences, masks, pad_id)
    return (logps * mask).sum(-1)
