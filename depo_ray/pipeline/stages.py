"""The pipeline as a recipe: each stage reads the artifacts of the ones before it from the
run folder and writes its own; ``runs/<run>/stages/<stage>.json`` marks it complete, with
its settings and wall time.

A completed stage is skipped on re-run. A completed stage whose settings have changed stops
the run before any work (re-run it with ``--from``). ``--from STAGE`` deletes that stage's
artifacts and those of every later stage, then runs them again. A stage that stopped half
way resumes from what it wrote (per task, per seed, per method) when its settings are the
same, and starts over when they changed (``stages/<stage>.started.json`` keeps them).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

from depo_ray.config import ConfigError, model_under_root, under_root
from depo_ray.files import write_text_atomically
from depo_ray.pipeline.config import METHODS, STAGES, PipelineConfig
from depo_ray.settings import field_defaults, first_difference, plain
from environments.registry import paths_under


class RunFolder:
    """Paths of a run's artifacts and the per-stage completion markers."""

    ARTIFACTS = {"bootstrap": ("bootstrap",), "generate": ("trajectories",), "label": ("labeled",), "bc": ("bc",),
                 "kto": ("kto",), "depo": ("depo",), "evaluate": ("eval",), "math": ("math",),
                 "report": ("report.md", "plots")}

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def marker(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.json"

    def completed(self, stage: str) -> dict | None:
        """The stage's marker, or None while it has to run; the report never counts as
        complete: it is cheap and rewritten on every run (wall times change)."""
        path = self.marker(stage)
        if stage == "report":
            return None
        return json.loads(path.read_text()) if path.exists() else None

    def started(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.started.json"

    def start(self, stage: str, settings) -> None:
        write_text_atomically(self.started(stage), json.dumps(plain(settings), indent=2))

    def finish(self, stage: str, settings, seconds: float, **facts) -> None:
        write_text_atomically(self.marker(stage), json.dumps(
            {"settings": plain(settings), "seconds": seconds, **facts}, indent=2, default=str))
        self.started(stage).unlink(missing_ok=True)

    def clear(self, stage: str) -> None:
        self.marker(stage).unlink(missing_ok=True)
        self.started(stage).unlink(missing_ok=True)
        for name in self.ARTIFACTS[stage]:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def trained(self, method: str, seed: int) -> Path:
        """Output folder of a train stage for one seed."""
        return self.root / method / f"seed-{seed}"

    def model(self, method: str, seed: int) -> Path:
        """The exported policy of a train stage for one seed."""
        from depo_ray.train.run import FINAL

        return self.trained(method, seed) / FINAL

    def scored(self, seed: int) -> Path:
        """The preference data packed and scored by this seed's π_BC (kept with it, so
        re-training π_BC clears it)."""
        return self.trained("bc", seed) / "scored"

    def evaluation(self, method: str, seed: int) -> Path:
        return self.root / "eval" / method / f"seed-{seed}"

    def math(self, method: str, seed: int) -> Path:
        return self.root / "math" / method / f"seed-{seed}"


def settings_change(stored: dict, config: PipelineConfig, stage: str) -> str | None:
    """How a stage's current settings differ from those stored when it ran (or None)."""
    return first_difference(stored, plain(config.section(stage)), defaults=plain(config.section(stage, as_data=field_defaults)))


def stale_stages(config: PipelineConfig, run: RunFolder, forced: set[str]) -> list[str]:
    """Completed stages (not about to be re-run) whose settings changed since they ran."""
    problems = []
    for stage in to_run(config, None):
        done = run.completed(stage)
        if done is None or stage in forced:
            continue
        change = settings_change(done["settings"], config, stage)
        if change:
            problems.append(f"{stage}: settings changed since it ran ({change}); re-run it with --from {stage}")
    return problems


def to_run(config: PipelineConfig, from_stage: str | None) -> list[str]:
    """Stages this config runs, from ``from_stage`` on when given."""
    skipped = {"bootstrap"} if config.policy is not None else set()
    if config.math is None:
        skipped.add("math")
    stages = [s for s in STAGES if s not in skipped]
    if from_stage is None:
        return stages
    if from_stage not in stages:
        raise ConfigError(f"--from: {from_stage!r} is not a stage of this config; stages: {stages}")
    return stages[stages.index(from_stage):]


def run_problems(config: PipelineConfig, run: RunFolder, from_stage: str | None) -> list[str]:
    """Why the run must not start: completed stages whose settings changed, or ``--from``
    over earlier stages that never completed (it would build on nothing)."""
    stages = to_run(config, from_stage)
    problems = stale_stages(config, run, set(stages) if from_stage else set())
    if from_stage:
        every = to_run(config, None)
        problems += [f"--from {from_stage}: stage {s} has not completed; run without --from first"
                     for s in every[:every.index(from_stage)] if run.completed(s) is None]
    return problems


def starting_policy(config: PipelineConfig, run: RunFolder, root: Path) -> str:
    if config.policy is not None:
        return model_under_root(root, config.policy)
    return str(run.root / run.completed("bootstrap")["policy"])


def run_stage(stage: str, config: PipelineConfig, run: RunFolder, root: Path, progress: bool = True) -> dict:
    """Run one stage; returns the facts kept in its marker."""
    env = paths_under(config.env, root)  # folders from the project root, kept relative in the markers
    if stage == "bootstrap":
        from depo_ray.bootstrap import bootstrap_policy

        budget = min(config.generate.search.max_new_tokens, config.evaluate.max_new_tokens)
        bootstrap = replace(config.bootstrap, run_dir=str(run / "bootstrap"), env=env, max_new_tokens=budget)
        # kept relative to the run folder, so a moved run still resumes
        return {"policy": str(bootstrap_policy(bootstrap, progress=progress).relative_to(run.root))}
    if stage == "generate":
        from depo_ray.search.generate import run_generation

        generate = replace(config.generate, policy=starting_policy(config, run, root), output_dir=str(run / "trajectories"),
                           env=env)
        totals = run_generation(generate, progress=progress)
        if totals["failed"]:  # no marker: the next run searches just these again
            raise RuntimeError(f"generate: the search failed on tasks {totals['failed']} (errors above); "
                               "the other tasks' shards are kept and a re-run retries only these")
        return {"totals": totals}
    if stage == "label":
        return label_stage(config, run, root)
    if stage in METHODS:
        return train_stage(stage, config, run, root)
    if stage == "evaluate":
        from depo_ray.evaluate.runner import run_evaluation

        summaries = {}
        for method in METHODS:
            for seed in config.seeds:
                evaluate = replace(config.evaluate, policy=str(run.model(method, seed)),
                                   output_dir=str(run.evaluation(method, seed)), env=env)
                summaries[f"{method}/seed-{seed}"] = run_evaluation(evaluate, method=method, progress=progress)
        return {"summaries": summaries}
    if stage == "math":
        from depo_ray.evaluate.math import run_math_evaluation

        summaries = {}
        for method in METHODS:  # each (method, seed) keeps its summary: a resumed stage skips it
            for seed in config.seeds:
                solve = replace(config.math, policy=str(run.model(method, seed)), output_dir=str(run.math(method, seed)))
                summaries[f"{method}/seed-{seed}"] = run_math_evaluation(solve, progress=progress)
        return {"summaries": summaries}
    if stage == "report":
        from depo_ray.pipeline.report import write_report

        return {"report": str(write_report(config, run))}
    raise ValueError(f"unknown stage {stage!r}")


def train_stage(stage: str, config: PipelineConfig, run: RunFolder, root: Path) -> dict:
    """BC from the starting policy on D_BC, or KTO / DEPO from the same seed's π_BC on D and
    U, once per seed. A seed whose model is exported is not trained again when the stage
    resumes after a crash."""
    from depo_ray.train.run import run_bc, run_preference

    metrics = {}
    for seed in config.seeds:
        if (run.model(stage, seed) / "config.json").exists():
            continue
        if stage == "bc":
            train = replace(config.bc, seed=seed, model=starting_policy(config, run, root),
                            output_dir=str(run.trained("bc", seed)))
            result, _ = run_bc(train, [str(run / "labeled" / "bc.parquet")])
        else:
            train = replace(getattr(config, stage), seed=seed, model=str(run.model("bc", seed)),
                            output_dir=str(run.trained(stage, seed)))
            # KTO and DEPO of a seed pack the same batches and score them with the same π_BC: once
            result, _ = run_preference(train, [str(run / "labeled" / "all.parquet")], run.scored(seed))
        metrics[f"seed-{seed}"] = result.metrics
    return {"metrics": metrics}


def label_stage(config: PipelineConfig, run: RunFolder, root: Path) -> dict:
    """Label every searched trajectory (and the expert demos, or their desirable ones, when asked), rephrase the
    desirable ones when a rephraser is set, and write all.parquet (D, U and dropped) and
    bc.parquet (D_BC)."""
    from depo_ray.labeling import label_expert_demos, label_records, select_bc, summary_table
    from depo_ray.records import read_records, write_shard

    labeled = label_records(read_records(run / "trajectories"), config.label.thresholds)
    if config.label.expert_demos != "none":
        labeled += label_expert_demos(read_records(run / "bootstrap" / "demos"), config.label.thresholds,
                                      config.label.expert_demos)
    if config.label.rephrase is not None:
        from depo_ray.models import load_tokenizer
        from depo_ray.rephrase import rephrase_record
        from depo_ray.serving.openai_client import OpenAIEndpoint

        endpoint, tokenizer = OpenAIEndpoint(config.label.rephrase.endpoint), load_tokenizer(starting_policy(config, run, root))
        labeled = [rephrase_record(r, endpoint.generate, tokenizer, config.label.rephrase) for r in labeled]
    counts = {label: sum(r.label == label for r in labeled) for label in ("desirable", "undesirable")}
    t = config.label.thresholds
    if not counts["desirable"]:
        raise RuntimeError(f"label: no desirable trajectory among {len(labeled)} (none reached reward κ0={t.kappa0}"
                           + (f" in under {t.step_cutoff} steps" if t.step_cutoff else "")
                           + "): search more (generate.search, more tasks) or lower label.thresholds.kappa0")
    if not counts["undesirable"]:
        raise RuntimeError(f"label: no undesirable trajectory among {len(labeled)} (none with κ2={t.kappa2} <= reward "
                           f"< κ1={t.kappa1}): KTO and DEPO need both classes; widen label.thresholds")
    bc = select_bc(labeled, t)
    write_shard(labeled, run / "labeled" / "all.parquet")
    write_shard(bc, run / "labeled" / "bc.parquet")
    table = summary_table(labeled)
    (run / "labeled" / "summary.txt").write_text(table + "\n")
    print(table)
    return {"records": len(labeled), **counts, "bc": len(bc)}


CONFIG_FILE = "config.yaml"


def save_config(config: PipelineConfig, run: RunFolder) -> Path:
    """The run's config as it was run (command-line overrides applied) at ``<run>/config.yaml``:
    a sweep or a later run can load it like any config file."""
    import yaml

    run.root.mkdir(parents=True, exist_ok=True)
    path = run / CONFIG_FILE
    write_text_atomically(path, yaml.safe_dump(plain(asdict(config)), sort_keys=False))
    return path


def run_pipeline(config: PipelineConfig, root: Path, from_stage: str | None = None, progress: bool = True) -> Path:
    """Run every stage not yet complete; returns the report's path. Validation (stale
    stages, --from) happens before anything is deleted or started."""
    run = RunFolder(under_root(root, config.run_dir))
    stages = to_run(config, from_stage)
    problems = run_problems(config, run, from_stage)
    if problems:
        raise ConfigError("\n".join(problems))
    for stage in stages if from_stage else ():
        run.clear(stage)
    save_config(config, run)
    for stage in stages:
        done, settings = run.completed(stage), plain(config.section(stage))
        if done is not None:
            print(f"[{stage}] done earlier ({done['seconds']:.0f} s), skipped")
            continue
        started = run.started(stage)
        if started.exists() and settings_change(json.loads(started.read_text()), config, stage):
            print(f"[{stage}] stopped half way earlier with other settings: starting it over")
            run.clear(stage)
        run.start(stage, settings)
        print(f"[{stage}] running")
        began = time.perf_counter()
        facts = run_stage(stage, config, run, root, progress=progress)
        seconds = time.perf_counter() - began
        run.finish(stage, settings, seconds, **facts)
        print(f"[{stage}] finished in {seconds:.0f} s")
    return run / "report.md"
