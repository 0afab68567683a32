"""The training data path: labeled Parquet shards -> Ray Data -> fixed global batches.

read_parquet -> tokenize with the one chat/mask function (depo_ray.tokens; a turn example's
mask keeps its ``loss_turn`` alone) -> drop
trajectories over max_length -> global shuffle -> pack consecutive rows into global batches
of fixed size (the incomplete last one is dropped). Each row of the result is one optimizer
step; worker r trains on slice r of it. The global batch therefore does not depend on the
number of workers, every worker takes the same number of steps, and nothing is re-blocked
after the mismatched KL pairs are built inside each local slice (sample j is paired with
the completion of sample j-1 of the same slice, cyclically). No local shuffle buffer is used:
it can yield short batches mid-stream and desynchronise DDP workers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Iterable

import numpy as np
import pyarrow as pa

from depo_ray.tokens import chat_tokens, only_turn

# Ray Data and transformers load on first use: the slicing and pairing helpers here are tested
# without them.


def prompt_length(messages: list[dict]) -> int:
    """Messages before the first agent turn: the task x of the pair (x, y)."""
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            return i
    raise ValueError("a trajectory needs at least one assistant turn")


def kl_partners(size: int) -> list[int]:
    """Index of the completion paired with prompt j in a local batch: a cyclic shift by one.
    Never a reversal: on odd sizes the middle sample would meet itself."""
    if size < 2:
        raise ValueError(f"mismatched pairs need a local batch of at least 2, got {size}")
    return [(j - 1) % size for j in range(size)]


def mismatched_messages(prompt_from: list[dict], completion_from: list[dict]) -> list[dict]:
    return prompt_from[: prompt_length(prompt_from)] + completion_from[prompt_length(completion_from):]


def slices(global_size: int, num_workers: int) -> list[range]:
    local = global_size // num_workers
    return [range(r * local, (r + 1) * local) for r in range(num_workers)]


@lru_cache(maxsize=4)
def cached_tokenizer(path: str):
    """One tokenizer per worker process, however many batches it maps."""
    from depo_ray.models.loading import load_tokenizer

    return load_tokenizer(path)


def tokenize(batch, tokenizer_path: str):
    """Ray Data map_batches function: add input_ids, assistant_mask, action_mask and length."""
    tokenizer = cached_tokenizer(tokenizer_path)
    rows = batch.to_pylist()
    for row in rows:
        tokens = chat_tokens(tokenizer, row["messages"])
        loss_turn = json.loads(row.get("provenance") or "{}").get("loss_turn")
        if loss_turn is not None:  # a turn example: the earlier turns are context only
            tokens = only_turn(tokens, loss_turn)
        row["input_ids"], row["assistant_mask"], row["length"] = tokens.input_ids, tokens.assistant_mask, len(tokens.input_ids)
        row["action_mask"] = tokens.action_mask
    return _table(rows)


def pack_global_batch(batch, tokenizer_path: str, global_size: int, num_workers: int, preference: bool, max_length: int,
                      columns: tuple[str, ...] = ()):
    """Ray Data map_batches function (batch_size = global batch): one output row per full
    global batch, with ``columns`` packed too; for preference losses also the mismatched KL
    sequence of every sample."""
    rows = batch.to_pylist()
    if len(rows) < global_size:
        return _table([])  # drop_last
    packed = {key: [r[key] for r in rows] for key in ("input_ids", "assistant_mask", *columns)}
    if preference:
        tokenizer = cached_tokenizer(tokenizer_path)
        kl_ids, kl_masks = [None] * len(rows), [None] * len(rows)
        for part in slices(global_size, num_workers):
            local = [rows[i] for i in part]
            for j, partner in enumerate(kl_partners(len(local))):
                tokens = chat_tokens(tokenizer, mismatched_messages(local[j]["messages"], local[partner]["messages"]))
                # Only z0 uses these: an over-long mismatched pair is cut, not dropped.
                kl_ids[part[j]] = tokens.input_ids[:max_length]
                kl_masks[part[j]] = tokens.assistant_mask[:max_length]
        packed.update(
            kl_input_ids=kl_ids,
            kl_assistant_mask=kl_masks,
            desirable=[r["label"] == "desirable" for r in rows],
            tokens_per_step=[float(r["avg_tokens_per_step"]) for r in rows],
            steps=[float(r["steps"]) for r in rows],
        )
    return _table([packed])


def _table(rows: list[dict]):
    return pa.Table.from_pylist(rows)


def shuffled_rows(paths: Iterable[str], tokenizer_path: str, *, max_length: int, seed: int, labels: tuple[str, ...]):
    """Labeled shards -> the trajectories with these labels, tokenized, at most ``max_length``
    tokens, in a seeded random order (one row each)."""
    import ray.data
    from ray.data.expressions import col

    ds = ray.data.read_parquet(list(paths))
    ds = ds.filter(expr=col("label").is_in(list(labels)))
    ds = ds.map_batches(tokenize, fn_kwargs={"tokenizer_path": tokenizer_path}, batch_format="pyarrow")
    ds = ds.filter(expr=col("length") <= max_length)
    return ds.random_shuffle(seed=seed)


def build_dataset(paths: Iterable[str], tokenizer_path: str, *, global_size: int, num_workers: int,
                  preference: bool, max_length: int, seed: int, labels: tuple[str, ...]):
    """Labeled shards -> a Ray Dataset with one row per global batch."""
    ds = shuffled_rows(paths, tokenizer_path, max_length=max_length, seed=seed, labels=labels)
    return ds.map_batches(
        pack_global_batch,
        fn_kwargs=dict(tokenizer_path=tokenizer_path, global_size=global_size, num_workers=num_workers,
                       preference=preference, max_length=max_length),
        batch_size=global_size, batch_format="pyarrow",
    )


def local_slice(row: dict, rank: int, num_workers: int) -> dict:
    """This worker's part of a packed global batch (plain lists and numpy arrays)."""
    size = len(row["input_ids"])
    part = slices(size, num_workers)[rank]
    return {key: [_plain(value[i]) for i in part] for key, value in row.items()}


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value
