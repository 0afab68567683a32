"""The curriculum of Structured Agent Distillation: each trajectory gets a complexity score
from its reasoning length, its action length and the teacher's entropy over it, and training
visits trajectories from simple to complex. Every schedule is a permutation per epoch, so
each trajectory is seen exactly once per epoch."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Sequence

SCHEDULES = ("shuffle", "simple_to_complex")


@dataclass(frozen=True)
class Complexity:
    reasoning_tokens: float
    """Tokens in the trajectory's reasoning segments."""
    action_tokens: float
    """Tokens in its action segments."""
    teacher_entropy: float
    """The teacher's mean next-token entropy over its assistant tokens (nats)."""


@dataclass(frozen=True)
class CurriculumConfig:
    schedule: Literal["shuffle", "simple_to_complex"] = "shuffle"
    """shuffle: a fresh random order every epoch (plain BC). simple_to_complex: the
    complexity bands in ascending order, each band in a seeded random order."""
    bands: int = 4
    """simple_to_complex: equal-count bands of the score (4: quartiles). Inside a band the
    order is random, so the seed changes the batches and the run; with as many bands as
    trajectories the order is a plain sort and every seed trains the same model."""
    reasoning_weight: float = 1.0
    """Weight of the reasoning length in the score (each part is divided by its mean first)."""
    action_weight: float = 1.0
    """Weight of the action length in the score."""
    entropy_weight: float = 1.0
    """Weight of the teacher's entropy in the score."""

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.bands < 1:
            raise ValueError(f"bands must be at least 1, got {self.bands}")
        for name in ("reasoning_weight", "action_weight", "entropy_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")


def complexity_scores(parts: Sequence[Complexity], config: CurriculumConfig) -> list[float]:
    """Weighted sum of the three parts, each relative to its mean over the data (so a part in
    tokens and one in nats weigh alike at equal weights)."""
    def relative(values: list[float]) -> list[float]:
        mean = sum(values) / len(values) if values else 0.0
        return [v / mean if mean > 0 else 0.0 for v in values]

    reasoning = relative([p.reasoning_tokens for p in parts])
    action = relative([p.action_tokens for p in parts])
    entropy = relative([p.teacher_entropy for p in parts])
    return [config.reasoning_weight * r + config.action_weight * a + config.entropy_weight * e
            for r, a, e in zip(reasoning, action, entropy)]


def epoch_order(scores: Sequence[float], schedule: str, epoch: int, seed: int = 0, bands: int = 4) -> list[int]:
    """The order of the trajectories (indices into ``scores``) in one epoch."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {list(SCHEDULES)}, got {schedule!r}")
    order = list(range(len(scores)))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    if schedule == "simple_to_complex":
        by_score = sorted(range(len(scores)), key=lambda i: scores[i])
        band = {index: rank * bands // len(scores) for rank, index in enumerate(by_score)}
        order.sort(key=lambda i: band[i])  # stable: the shuffled order inside each band
    return order
