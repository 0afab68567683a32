"""Reference log-probabilities of π_BC, computed once before DEPO/KTO training and stored
with the data (matched and mismatched sequences), so training holds one model, not two."""

from __future__ import annotations

import os

import pyarrow as pa
import torch

from depo_ray.train.logprobs import sequence_logps
from depo_ray.train.steps import micro_batches

# transformers loads with the reference model: train.run, which imports this module, takes torch
# only.


def use_threads(threads: int) -> int:
    """Give torch ``threads`` intra-op threads, at most the cores this process may run on.

    For the actor that scores a stage's data before its training starts. Ray sets
    OMP_NUM_THREADS to an actor's CPU reservation, one by Ray Data's default, so the actor
    scored on one core while the cores of the training workers to come stood idle. Reserving
    them instead would leave Ray Data's own read and write tasks no CPU on a small machine."""
    threads = max(1, min(threads, len(os.sched_getaffinity(0))))
    torch.set_num_threads(threads)
    return threads


class ScoreWithReference:
    """Ray Data map_batches callable: add ref_logps and kl_ref_logps to packed rows."""

    def __init__(self, model_path: str, chunk: int = 4, threads: int | None = None):
        """``threads``: torch's threads in this process (None: as they are)."""
        from depo_ray.models.loading import load_model, load_tokenizer

        if threads is not None:
            use_threads(threads)
        self.model = load_model(model_path).eval()
        self.pad_id = load_tokenizer(model_path).pad_token_id
        self.chunk = chunk

    def _score(self, sequences, masks) -> list[float]:
        out = [0.0] * len(sequences)
        with torch.no_grad():
            for chunk in micro_batches(sequences, self.chunk):  # shortest together: each pads little
                logps = sequence_logps(self.model, [sequences[i] for i in chunk], [masks[i] for i in chunk], self.pad_id)
                for i, logp in zip(chunk, logps.tolist()):
                    out[i] = logp
        return out

    def __call__(self, batch):
        rows = batch.to_pylist()
        for row in rows:
            row["ref_logps"] = self._score(row["input_ids"], row["assistant_mask"])
            row["kl_ref_logps"] = self._score(row["kl_input_ids"], row["kl_assistant_mask"])
        return pa.Table.from_pylist(rows)
