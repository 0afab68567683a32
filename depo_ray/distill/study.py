"""The distillation study's settings and report (``benchmarks/distillation_study.py`` runs it):
students of one teacher trained by different losses, compared over seeds with paired intervals."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from depo_ray.distill.curriculum import CurriculumConfig
from depo_ray.losses.config import LossConfig
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class Arm:
    name: str
    """Folder and report name of the student."""
    loss: LossConfig
    """sft (behaviour cloning), token_kd or sad with its segment weights."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Order of the trajectories per epoch (distillation losses only)."""


@dataclass(frozen=True)
class Comparison:
    baseline: str
    """Arm A (subtracted)."""
    method: str
    """Arm B: the report gives B − A."""


@dataclass(frozen=True)
class DistillStudyConfig:
    run_dir: str = "runs/distill-study"
    """Study folder (relative to the project root)."""
    pipeline: str = "configs/cpu_pipeline.yaml"
    """Pipeline config whose env, bootstrap (the teacher and its D_BC) and evaluate sections are used."""
    student_layers: tuple[int, ...] = (0,)
    """The teacher's layers the students keep (with its embeddings, final norm and head): every
    student starts from this cut of the teacher (``depo_ray.distill.student``)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The students' training (model, output_dir, loss, teacher and curriculum are filled in per arm)."""
    arms: tuple[Arm, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: the order of the data (every student starts from the same cut of the teacher)."""
    comparisons: tuple[Comparison, ...] = ()

    def __post_init__(self):
        names = [arm.name for arm in self.arms]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"arms: need at least one, each with its own name, got {names}")
        for comparison in self.comparisons:
            for side in (comparison.baseline, comparison.method):
                if side not in names:
                    raise ValueError(f"comparisons: {side!r} is not an arm ({names})")
        if not self.seeds:
            raise ValueError("seeds: need at least one")


@dataclass
class StudentOutcomes:
    """One arm's measurements, per seed."""

    tasks: dict = field(default_factory=dict)
    """Seed -> its TaskResults on the evaluation tasks."""
    summaries: dict = field(default_factory=dict)
    """Seed -> Succ, T@All, S@All, tokens/turn, reasoning/turn and action match."""
    reasoning: dict = field(default_factory=dict)
    """Seed -> reasoning tokens per turn, per task in task order."""
    matches: dict = field(default_factory=dict)
    """Seed -> for each of the teacher's turns, whether the student reproduces its action."""

    def add(self, seed: int, tasks: list, summary: dict, reasoning: list[float], matches: list[bool]) -> None:
        """One seed's student: its task results and evaluation summary, its reasoning tokens
        per turn per task, and its action matches on the teacher's turns."""
        self.tasks[seed], self.reasoning[seed], self.matches[seed] = tasks, reasoning, matches
        self.summaries[seed] = {**{k: summary[k] for k in ("succ", "t_all", "s_all", "tokens_per_turn")},
                                "reasoning_per_turn": statistics.mean(reasoning),
                                "action_match": statistics.mean(matches)}


def write_report(config: DistillStudyConfig, study: Path, teacher: dict, outcomes: dict[str, StudentOutcomes]) -> Path:
    """report.md and report.json in ``study``: medians per arm, paired differences per comparison."""
    from depo_ray.evaluate.metrics import median_summary
    from depo_ray.evaluate.stats import paired_bootstrap, paired_mean_difference
    from depo_ray.pipeline.report import paired_table

    seeds = list(config.seeds)
    medians = {arm: median_summary([o.summaries[s] for s in seeds]) for arm, o in outcomes.items()}
    paired = [paired_bootstrap(outcomes[c.baseline].tasks, outcomes[c.method].tasks, baseline=c.baseline,
                               method=c.method) for c in config.comparisons]

    def difference(c: Comparison, metric: str, field_name: str, higher_is_better: bool):
        a, b = (getattr(outcomes[side], field_name) for side in (c.baseline, c.method))
        return paired_mean_difference([a[s] for s in seeds], [b[s] for s in seeds], metric, higher_is_better)

    # shorter reasoning counts as better: the step-level efficiency DEPO and SAD aim at
    segments = [{"comparison": f"{c.method} - {c.baseline}",
                 "reasoning_per_turn": difference(c, "reasoning_per_turn", "reasoning", higher_is_better=False),
                 "action_match": difference(c, "action_match", "matches", higher_is_better=True)}
                for c in config.comparisons]
    lines = ["# Distillation study", "", f"Teacher: Succ {teacher['succ']:.3f}, T@All {teacher['t_all']:.1f}, "
             f"S@All {teacher['s_all']:.2f}, tokens/turn {teacher['tokens_per_turn']:.1f}", "",
             f"Students, medians over seeds {seeds}:", "",
             "| Arm | Succ | T@All | S@All | tokens/turn | reasoning/turn | action match |", "|---|" + "---:|" * 6]
    lines += [f"| {arm} | {m['succ']:.3f} | {m['t_all']:.1f} | {m['s_all']:.2f} | {m['tokens_per_turn']:.1f} | "
              f"{m['reasoning_per_turn']:.1f} | {m['action_match']:.3f} |" for arm, m in medians.items()]
    lines += ["", "Paired differences (B − A, 95% intervals over seeds × tasks):", "", paired_table(paired), "",
              "Reasoning tokens per turn (paired over seeds × tasks; shorter is better) and action match "
              "(paired over seeds × the teacher's turns):", "", "| B − A | reasoning/turn | action match |", "|---|---:|---:|"]
    for row in segments:
        cells = [f"{d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}] {d.verdict}"
                 for d in (row["reasoning_per_turn"], row["action_match"])]
        lines.append(f"| {row['comparison']} | " + " | ".join(cells) + " |")
    report = study / "report.md"
    report.write_text("\n".join(lines) + "\n")
    as_data = {"teacher": teacher, "per_seed": {arm: o.summaries for arm, o in outcomes.items()}, "medians": medians,
               "paired": [asdict(p) for p in paired],
               "segments": [{k: asdict(v) if k != "comparison" else v for k, v in row.items()} for row in segments]}
    (study / "report.json").write_text(json.dumps(as_data, indent=2, default=str))
    return report
