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
import sys
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.config import load_job_config, under_root  # noqa: E402
from depo_ray.distill.study import Arm, DistillStudyConfig, StudentOutcomes, write_report  # noqa: E402


def teacher_and_data(study: Path, pipeline) -> tuple[str, str]:
    """The pipeline's bootstrap policy (trained on expert demos) and its D_BC shard."""
    from depo_ray.bootstrap.warm_start import bootstrap_policy
    from depo_ray.pipeline.stages import bootstrap_settings

    teacher = bootstrap_policy(bootstrap_settings(pipeline, study / "teacher", ROOT))
    return str(teacher), str(study / "teacher" / "bc" / "expert.parquet")


def train_student(config: DistillStudyConfig, study: Path, arm: Arm, seed: int, teacher: str, data: str) -> str:
    from depo_ray.distill.student import student_from_teacher
    from depo_ray.losses.config import DISTILL_LOSSES
    from depo_ray.train.run import FINAL, run_bc, run_distill

    start = study / "student-start"
    if not (start / "config.json").exists():
        student_from_teacher(teacher, start, config.student_layers)
    output = study / arm.name / f"seed-{seed}"
    final = output / FINAL
    if not (final / "config.json").exists():
        distilling = arm.loss.name in DISTILL_LOSSES
        train = replace(config.train, model=str(start), output_dir=str(output), loss=arm.loss, seed=seed,
                        teacher=teacher if distilling else None, curriculum=arm.curriculum)
        (run_distill if distilling else run_bc)(train, [data])
    return str(final)


def evaluate(pipeline, policy: str, output: Path, method: str) -> dict:
    from depo_ray.envs import paths_under
    from depo_ray.evaluate.runner import run_evaluation

    evaluation = replace(pipeline.evaluate, env=paths_under(pipeline.env, ROOT), policy=policy, output_dir=str(output))
    return run_evaluation(evaluation, method=method)


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
    from depo_ray.evaluate.runner import read_results
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
    print(f"report: {run_study(config, pipeline)}")


if __name__ == "__main__":
    main()
