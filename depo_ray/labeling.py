"""Split trajectories into desirable (D), undesirable (U) and dropped by reward thresholds.

desirable    reward >= κ0, and within the step budget when one is set
undesirable  κ2 <= reward < κ1 (and not desirable); with ``long_successes: undesirable``,
             also a success over the step budget
dropped      everything else (κ1 <= reward < κ0, reward < κ2, or a success over the budget)

The step budget: fewer steps than ``step_cutoff`` (the paper's WebShop rule), and at most
``relative_step_budget`` times the steps of the task's shortest known success. The paper
drops long successes; calling them undesirable gives the objective a turn signal that
compares trajectories of the same task.

D_BC, the behaviour-cloning set, is a configurable subset of D.

Invalid turns (an action the environment rejected) can become undesirable examples of their
own: the chat through that turn, with the loss on that turn alone (provenance ``loss_turn``).
A failed trajectory's label says the whole of it was bad; these say which turn was.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Literal

from depo_ray.records import TrajectoryRecord


@dataclass(frozen=True)
class LabelConfig:
    kappa0: float = 0.9
    """Desirable if reward >= kappa0 (paper: 0.9 on BabyAI, 1.0 on WebShop)."""
    kappa1: float = 0.5
    """Undesirable if kappa2 <= reward < kappa1."""
    kappa2: float = 0.0
    """Lower bound of the undesirable band."""
    step_cutoff: int | None = None
    """If set, desirable also needs steps < step_cutoff (paper: 7 on WebShop)."""
    relative_step_budget: float | None = None
    """If set, desirable also needs steps <= this multiple of the steps of the same task's
    shortest success (reward >= kappa0) among the labeled trajectories and the expert's."""
    long_successes: Literal["drop", "undesirable"] = "drop"
    """A success over the step budget: dropped (the paper), or undesirable, so the
    preference loss learns that wandering to a late success is worse than finishing early."""
    bc_selection: Literal["all", "random", "fewest_tokens"] = "all"
    """How D_BC is drawn from D: all of it, a random share, or the share with the fewest
    generated tokens."""
    bc_fraction: float = 1.0
    """Share of D that goes into D_BC (ignored for "all")."""
    seed: int = 0
    """Seed for the "random" selection."""

    def __post_init__(self):
        if not self.kappa2 <= self.kappa1 <= self.kappa0:
            raise ValueError(
                f"labeling thresholds need kappa2 <= kappa1 <= kappa0, got "
                f"kappa2={self.kappa2}, kappa1={self.kappa1}, kappa0={self.kappa0}"
            )
        if self.step_cutoff is not None and self.step_cutoff < 1:
            raise ValueError(f"step_cutoff must be a positive integer or None, got {self.step_cutoff}")
        if self.relative_step_budget is not None and self.relative_step_budget < 1:
            raise ValueError(f"relative_step_budget must be at least 1 or None, got {self.relative_step_budget}")
        if self.long_successes not in ("drop", "undesirable"):
            raise ValueError(f"long_successes must be 'drop' or 'undesirable', got {self.long_successes!r}")
        if not 0.0 < self.bc_fraction <= 1.0:
            raise ValueError(f"bc_fraction must be in (0, 1], got {self.bc_fraction}")
        if self.bc_selection not in ("all", "random", "fewest_tokens"):
            raise ValueError(f"bc_selection must be 'all', 'random' or 'fewest_tokens', got {self.bc_selection!r}")


def within_budget(steps: int, config: LabelConfig, shortest: int | None = None) -> bool:
    """Whether a success of ``steps`` steps is short enough to be desirable; ``shortest``:
    the steps of its task's shortest known success."""
    if config.step_cutoff is not None and steps >= config.step_cutoff:
        return False
    return config.relative_step_budget is None or shortest is None or steps <= config.relative_step_budget * shortest


def label_of(reward: float, steps: int, config: LabelConfig, shortest: int | None = None) -> str | None:
    if reward >= config.kappa0:
        if within_budget(steps, config, shortest):
            return "desirable"
        return "undesirable" if config.long_successes == "undesirable" else None
    if config.kappa2 <= reward < config.kappa1:
        return "undesirable"
    return None


def shortest_successes(records: Iterable[TrajectoryRecord], kappa0: float) -> dict[str, int]:
    """Each task's fewest steps to a success (reward >= kappa0)."""
    shortest: dict[str, int] = {}
    for r in records:
        if r.reward >= kappa0:
            shortest[r.task_id] = min(r.steps, shortest.get(r.task_id, r.steps))
    return shortest


def label_records(records: list[TrajectoryRecord], config: LabelConfig,
                  known: Iterable[TrajectoryRecord] = ()) -> list[TrajectoryRecord]:
    """Copies of ``records`` with ``label`` set (None for dropped). ``known``: other
    trajectories of the same tasks (the expert's, the search's) whose successes count
    toward each task's shortest success."""
    shortest = shortest_successes([*records, *known], config.kappa0)
    return [replace(r, label=label_of(r.reward, r.steps, config, shortest.get(r.task_id))) for r in records]


def label_expert_demos(demos: list[TrajectoryRecord], config: LabelConfig,
                       which: Literal["none", "desirable", "successes", "all"],
                       known: Iterable[TrajectoryRecord] = ()) -> list[TrajectoryRecord]:
    """The expert demonstrations that join the labeled data, labeled: none, the desirable
    ones, the successes (reward >= κ0, whatever the step budget makes of them), or all of
    them (``known`` as in ``label_records``)."""
    if which == "none":
        return []
    labeled = label_records(demos, config, known)
    if which == "desirable":
        return [r for r in labeled if r.label == "desirable"]
    if which == "successes":
        return [r for r in labeled if r.reward >= config.kappa0 and r.label is not None]
    return labeled


def invalid_turn_examples(records: Iterable[TrajectoryRecord],
                          turn_tokens: Callable[[list[dict]], list[int]]) -> list[TrajectoryRecord]:
    """One undesirable example per distinct invalid turn of ``records`` (their provenance's
    ``invalid_turns``): the chat through that turn, ``loss_turn`` naming it. Trajectories of one
    search tree share prefixes, so a turn is kept once per task and chat. ``turn_tokens``
    counts each turn's generated tokens (``depo_ray.tokens.tokens_per_turn``)."""
    seen, examples = set(), []
    for r in records:
        invalid = r.provenance.get("invalid_turns", [])
        for turn in invalid:
            messages = _through_turn(r.messages, turn)
            key = (r.env, r.task_id, tuple(m["content"] for m in messages))
            if key in seen:
                continue
            seen.add(key)
            total = sum(turn_tokens(messages))
            examples.append(replace(
                r, messages=messages, steps=turn + 1, total_tokens=total, avg_tokens_per_step=total / (turn + 1),
                reward=0.0, success=False, label="undesirable",
                provenance={**r.provenance, "invalid_turns": [t for t in invalid if t <= turn], "loss_turn": turn}))
    return examples


def _through_turn(messages: list[dict], turn: int) -> list[dict]:
    """The messages up to and including assistant turn ``turn`` (0-based)."""
    seen = -1
    for i, message in enumerate(messages):
        seen += message["role"] == "assistant"
        if seen == turn:
            return messages[: i + 1]
    raise ValueError(f"the chat has no assistant turn {turn} (it has {seen + 1})")


def select_bc(records: list[TrajectoryRecord], config: LabelConfig) -> list[TrajectoryRecord]:
    """D_BC: the configured subset of the desirable records."""
    desirable = [r for r in records if r.label == "desirable"]
    if config.bc_selection == "all":
        return desirable
    count = max(1, round(config.bc_fraction * len(desirable))) if desirable else 0
    if config.bc_selection == "random":
        return random.Random(config.seed).sample(desirable, count)
    return sorted(desirable, key=lambda r: (r.total_tokens, r.task_id))[:count]


def summary_table(records: list[TrajectoryRecord]) -> str:
    """Counts, mean turns, mean tokens per turn and mean reward per class, as a text table."""
    rows = [("class", "count", "mean turns", "tokens/turn", "mean reward")]
    for name, label, turn_example in (("desirable", "desirable", False), ("undesirable", "undesirable", False),
                                      ("invalid turns", "undesirable", True), ("dropped", None, False)):
        group = [r for r in records if r.label == label and ("loss_turn" in r.provenance) == turn_example]
        if turn_example and not group:
            continue
        if group:
            n = len(group)
            rows.append((name, str(n), f"{sum(r.steps for r in group) / n:.2f}",
                         f"{sum(r.avg_tokens_per_step for r in group) / n:.1f}", f"{sum(r.reward for r in group) / n:.3f}"))
        else:
            rows.append((name, "0", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
