"""Reference log-probabilities of π_BC, computed once before DEPO/KTO training and stored
with the data (matched and mismatched sequences), so training holds one model, not two."""

from __future__ import annotations

import pyarrow as pa
import torch

from depo_ray.train.logprobs import sequence_logps

# transformers loads with the reference model: train.run, which imports this module, takes torch
# only.


class ScoreWithReference:
    """Ray Data map_batches callable: add ref_logps and kl_ref_logps to packed rows."""

    def __init__(self, model_path: str, chunk: int = 4):
        from depo_ray.models.loading import load_model, load_tokenizer

        self.model = load_model(model_path).eval()
        self.pad_id = load_tokenizer(model_path).pad_token_id
        self.chunk = chunk

    def _score(self, sequences, masks) -> list[float]:
        out = []
        with torch.no_grad():
            for start in range(0, len(sequences), self.chunk):
                out += sequence_logps(self.model, sequences[start:start + self.chunk], masks[start:start + self.chunk], self.pad_id).tolist()
        return out

    def __call__(self, batch):
        rows = batch.to_pylist()
        for row in rows:
            row["ref_logps"] = self._score(row["input_ids"], row["assistant_mask"])
            row["kl_ref_logps"] = self._score(row["kl_input_ids"], row["kl_assistant_mask"])
        return pa.Table.from_pylist(rows)
