"""Structured Agent Distillation study: students of one teacher trained by SFT, token-level KD
and SAD (and SAD without its reasoning term, its action term or its curriculum), over seeds,
evaluated greedily on the pipeline's held-out tasks and compared with paired 95% intervals.

    RAY_ADDRESS=local .venv/bin/python benchmarks/distillation_study.py --config configs/cpu_distill_study.yaml

Steps, each kept in the study folder and skipped when the command runs again:
1. The teacher: the pipeline config's bootstrap (expert demonstrations of its tasks, BC of the
   tiny model); its D_BC is the students' data.
2. The students' start: the teacher cut to ``student_layers`` (same tokenizer), and per seed
   (the data order) one student per arm trained from it: ``sft`` by behaviour cloning, the
   others by distillation from the teacher (``run_distill``).
3. Greedy evaluation of the teacher and of every student on the pipeline's evaluation tasks.
4. ``report.md`` / ``report.json``: per arm the median over seeds of Succ, T@All, S@All,
   reasoning tokens per turn (on its own episodes) and the action-match rate (the share of
   the teacher's turns, on the teacher's own episodes, whose action the student reproduces
   when it reads the same history); paired differences with 95% intervals for the configured
   comparisons.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.config import load_job_config, under_root  # noqa: E402
from depo_ray.distill.curriculum import CurriculumConfig  # noqa: E402
from depo_ray.env_setup import paths_under  # noqa: E402
from depo_ray.losses.config import LossConfig  # noqa: E402
from depo_ray.train.config import FINAL, TrainConfig  # noqa: E402

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


def teacher_and_data(study: Path, pipeline) -> tuple[str, str]:
    """The pipeline's bootstrap policy (trained on expert demos) and its D_BC shard."""
    from depo_ray.bootstrap.warm_start import bootstrap_policy
    from depo_ray.pipeline.recipe import bootstrap_run

    teacher = bootstrap_policy(pipeline.bootstrap, bootstrap_run(pipeline, study / "teacher", ROOT))
    return str(teacher), str(study / "teacher" / "bc" / "expert.parquet")


def train_student(config: DistillStudyConfig, study: Path, arm: Arm, seed: int, teacher: str, data: str) -> str:
    from depo_ray.distill.student import student_from_teacher
    from depo_ray.losses.config import DISTILL_LOSSES
    from depo_ray.train.run import run_bc, run_distill

    start = study / "student-start"
    if not (start / "config.json").exists():
        student_from_teacher(teacher, start, config.student_layers)
    output = study / arm.name / f"seed-{seed}"
    final = output / FINAL
    if not (final / "config.json").exists():
        distilling = arm.loss.name in DISTILL_LOSSES
        train = replace(config.train, loss=arm.loss, seed=seed, teacher=teacher if distilling else None,
                        curriculum=arm.curriculum)
        (run_distill if distilling else run_bc)(train, str(start), output, [data])
    return str(final)


def evaluate(pipeline, policy: str, output: Path, method: str) -> dict:
    from depo_ray.evaluate.episodes import run_evaluation

    return run_evaluation(pipeline.evaluate, policy, pipeline.env, output, method=method)


def reasoning_per_turn(evaluation: Path, tokenizer) -> list[float]:
    """Per task (in task order), the reasoning tokens per turn of the evaluated episode."""
    from depo_ray.distill.agreement import segment_lengths
    from depo_ray.records import read_records
    from depo_ray.tokens import chat_tokens

    per_task = []
    for record in sorted(read_records(evaluation / "trajectories.parquet"), key=lambda r: int(r.task_id)):
        lengths = segment_lengths(chat_tokens(tokenizer, record.messages))
        per_task.append(lengths.reasoning_tokens / max(1, lengths.turns))
    return per_task


def check_settings(study: Path, config: DistillStudyConfig) -> None:
    """A study folder holds the students of one config: its kept outputs are reused only with
    the settings they were made from (``study.json``)."""
    from depo_ray.settings import first_difference, plain

    settings, saved = plain(asdict(config)), study / "study.json"
    if saved.exists():
        change = first_difference(json.loads(saved.read_text()), settings)
        if change:
            raise SystemExit(f"{study} holds a study with other settings ({change}); use another run_dir")
    else:
        study.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(settings, indent=2))


def run_study(config: DistillStudyConfig, pipeline) -> Path:
    from depo_ray.cluster import connect
    from depo_ray.distill.agreement import action_matches_on
    from depo_ray.evaluate.episodes import read_results
    from depo_ray.files import write_text_atomically
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.records import read_records

    study = Path(under_root(ROOT, config.run_dir))
    check_settings(study, config)
    connect()
    teacher, data = teacher_and_data(study, pipeline)
    teacher_eval = study / "teacher" / "eval"
    teacher_summary = evaluate(pipeline, teacher, teacher_eval, "teacher")
    teacher_chats = [r.messages for r in sorted(read_records(teacher_eval / "trajectories.parquet"),
                                                key=lambda r: int(r.task_id))]
    tokenizer = load_tokenizer(teacher)
    outcomes = {arm.name: StudentOutcomes() for arm in config.arms}
    for seed in config.seeds:
        for arm in config.arms:
            print(f"[study] {arm.name} seed {seed}", flush=True)
            final = train_student(config, study, arm, seed, teacher, data)
            evaluation = study / arm.name / f"seed-{seed}" / "eval"
            summary = evaluate(pipeline, final, evaluation, arm.name)
            match_file = evaluation / "action_matches.json"
            if not match_file.exists():
                write_text_atomically(match_file, json.dumps(action_matches_on(final, teacher_chats)))
            outcomes[arm.name].add(seed, read_results(evaluation), summary, reasoning_per_turn(evaluation, tokenizer),
                                   json.loads(match_file.read_text()))
    return write_report(config, study, teacher_summary, outcomes)


def main() -> None:
    from depo_ray.pipeline.config import PipelineConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/cpu_distill_study.yaml", help="study config (from the project root)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a study setting")
    args = parser.parse_args()
    config = load_job_config(DistillStudyConfig, ROOT, args.config, overrides=args.set)
    pipeline = load_job_config(PipelineConfig, ROOT, config.pipeline)
    pipeline = replace(pipeline, env=paths_under(pipeline.env, ROOT))  # the env's folders, from the project root
    print(f"report: {run_study(config, pipeline)}")


if __name__ == "__main__":
    main()
