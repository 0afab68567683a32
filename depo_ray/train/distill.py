"""Distillation's data (losses token_kd and sad): the teacher scores every trajectory once,
its top-k next-token distributions at the assistant positions and the curriculum's complexity
parts; ``depo_ray.train.steps.distill_step`` then compares the student's distributions with
them, micro-batch by micro-batch.

A scored row keeps, per assistant target position in order, the teacher's k token ids and
log-probs, flattened: ``teacher_ids`` and ``teacher_logps`` hold n·k values for n positions.
"""

from __future__ import annotations

import pyarrow as pa
import torch

from depo_ray.distill.teacher import teacher_entropy, teacher_topk
from depo_ray.train.reference import use_threads
from depo_ray.train.steps import target_positions

# transformers loads with the teacher: train.run, which imports this module, takes torch only.


class ScoreWithTeacher:
    """Ray Data map_batches callable: add the teacher's top-k ids and log-probs at each row's
    assistant positions, and the complexity parts the curriculum scores."""

    def __init__(self, teacher_path: str, top_k: int, threads: int | None = None):
        """``threads``: torch's threads in this process (None: as they are)."""
        from depo_ray.models.loading import load_model

        if threads is not None:
            use_threads(threads)
        self.model = load_model(teacher_path).eval()
        self.top_k = top_k

    def score(self, input_ids: list[int], assistant_mask: list[int]) -> tuple[list[int], list[float], float]:
        positions = torch.tensor(target_positions(assistant_mask))
        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([input_ids]), use_cache=False, logits_to_keep=positions).logits
        ids, logps = teacher_topk(logits[0], self.top_k)
        return ids.flatten().tolist(), logps.flatten().tolist(), teacher_entropy(logps, torch.ones(len(positions)))

    def __call__(self, batch):
        rows = batch.to_pylist()
        for row in rows:
            row["teacher_ids"], row["teacher_logps"], row["teacher_entropy"] = self.score(row["input_ids"],
                                                                                           row["assistant_mask"])
            row["action_tokens"] = sum(row["action_mask"])
            row["reasoning_tokens"] = sum(row["assistant_mask"]) - row["action_tokens"]
        return pa.Table.from_pylist(rows)

