"""Running the stages of ``STAGES`` (or any such list), each resumable under ``runs/<run>/``.

``runs/<run>/stages/<stage>.json`` marks a stage complete, with its settings and wall time.
A completed stage is skipped on re-run. A completed stage whose settings have changed stops
the run before any work (re-run it with ``--from``). ``--from STAGE`` deletes that stage's
artifacts and those of every later stage, then runs them again. A stage that stopped half
way resumes from what it wrote (per task, per seed, per method) when its settings are the
same, and starts over when they changed (``stages/<stage>.started.json`` keeps them).

Nothing here names a stage: what differs between stages is in their ``Stage`` entries.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from depo_ray.cluster import StorageNotShared, nodes_without
from depo_ray.config import ConfigError, under_root
from depo_ray.env_setup import paths_under
from depo_ray.files import write_text_atomically
from depo_ray.pipeline.artifacts import artifact_problems
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.recipe import STAGES
from depo_ray.pipeline.stage import RunFolder, Stage
from depo_ray.settings import field_defaults, first_difference, plain, without_scheduling
from depo_ray.tracking import Tracker


def stage_settings(stage: Stage, config: PipelineConfig, as_data=asdict):
    """What the stage's artifacts depend on, as stored in its markers: a completed stage
    whose settings changed must be re-run (``--from``), never silently reused."""
    return plain(without_scheduling(stage.settings(config, as_data)))


def settings_change(stored: dict, stage: Stage, config: PipelineConfig) -> str | None:
    """How a stage's current settings differ from those stored when it ran (or None)."""
    return first_difference(stored, stage_settings(stage, config),
                            defaults=stage_settings(stage, config, as_data=field_defaults))


def seeds_added(stored: dict, stage: Stage, config: PipelineConfig) -> bool:
    """Whether a stage run once per seed ran for some of the config's seeds and nothing
    else changed: it then runs the new seeds only (its finished seeds are skipped)."""
    current = stage_settings(stage, config)
    if not isinstance(stored.get("seeds"), list) or "seeds" not in current:
        return False
    return set(stored["seeds"]) < set(current["seeds"]) and \
        settings_change({**stored, "seeds": current["seeds"]}, stage, config) is None


def completed(stage: Stage, run: RunFolder, config: PipelineConfig) -> dict | None:
    """The stage's marker when this config has nothing left for it to do, else None."""
    done = stage.completed(run)
    return None if done is None or seeds_added(done["settings"], stage, config) else done


def merged_facts(earlier: dict, later: dict) -> dict:
    """A stage's marker facts after it ran for more seeds: per-seed tables joined, times added."""
    merged = {**earlier, **later}
    for key, value in later.items():
        if isinstance(value, dict) and isinstance(earlier.get(key), dict):
            merged[key] = {**earlier[key], **value}
    return merged


def to_run(config: PipelineConfig, from_stage: str | None, stages: tuple[Stage, ...] = STAGES) -> list[Stage]:
    """Stages this config runs, from ``from_stage`` on when given."""
    applied = [s for s in stages if s.applies(config)]
    names = [s.name for s in applied]
    if from_stage is None:
        return applied
    if from_stage not in names:
        raise ConfigError(f"--from: {from_stage!r} is not a stage of this config; stages: {names}")
    return applied[names.index(from_stage):]


def _stale(stage: Stage, run: RunFolder, config: PipelineConfig) -> str | None:
    """How a completed stage's settings changed since it ran (None: not completed, unchanged,
    or only run for fewer seeds)."""
    done = stage.completed(run)
    if done is None or seeds_added(done["settings"], stage, config):
        return None
    return settings_change(done["settings"], stage, config)


def stale_stages(config: PipelineConfig, run: RunFolder, forced: set[str], stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Completed stages (not about to be re-run) whose settings changed since they ran."""
    return [f"{stage.name}: settings changed since it ran ({change})" for stage in to_run(config, None, stages)
            if stage.name not in forced and (change := _stale(stage, run, config))]


def redo_from(config: PipelineConfig, run: RunFolder, stages: tuple[Stage, ...] = STAGES) -> str | None:
    """The stage to give ``--from`` so that no completed stage with changed settings is kept:
    the first such stage, or a stage before it that never completed (``--from`` must not skip
    one); None when no completed stage changed."""
    every = to_run(config, None, stages)
    changed = [i for i, stage in enumerate(every) if _stale(stage, run, config)]
    if not changed:
        return None
    unfinished = [stage for stage in every[:changed[0]] if completed(stage, run, config) is None]
    return (unfinished[0] if unfinished else every[changed[0]]).name


def forced_stages(config: PipelineConfig, from_stage: str | None, stages: tuple[Stage, ...] = STAGES) -> set[str]:
    """The stages ``--from`` re-runs even when complete."""
    return {s.name for s in to_run(config, from_stage, stages)} if from_stage else set()


def broken_artifacts(config: PipelineConfig, run: RunFolder, forced: set[str], stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Broken files among the artifacts of completed stages that this run keeps and builds on,
    each with the stage to re-run (a stage that stopped half way redoes its partial files)."""
    return [f"{stage.name}: {problem} (repair it, or re-run with --from {stage.name})"
            for stage in to_run(config, None, stages) if stage.name not in forced and stage.completed(run)
            for name in stage.artifacts for problem in artifact_problems(run / name)]


def run_problems(config: PipelineConfig, run: RunFolder, from_stage: str | None,
                 stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Why the run must not start: completed stages whose settings changed, ``--from`` over
    earlier stages that never completed (it would build on nothing), or broken artifacts;
    after the first two, the one command line option that works."""
    forced = forced_stages(config, from_stage, stages)
    stale = stale_stages(config, run, forced, stages)
    unfinished = []
    if from_stage:
        every = to_run(config, None, stages)
        unfinished = [s.name for s in every[:[s.name for s in every].index(from_stage)] if completed(s, run, config) is None]
    problems = stale + ([f"--from {from_stage}: {', '.join(unfinished)} before it never completed"] if unfinished else [])
    if problems:
        start = redo_from(config, run, stages)
        problems.append(f"re-run with --from {start} (it redoes {start} and every later stage)" if start
                        else "run without --from first")
    return problems + broken_artifacts(config, run, forced, stages)


CONFIG_FILE = "config.yaml"


def save_config(config: PipelineConfig, run: RunFolder) -> Path:
    """The run's config as it was run (command-line overrides applied) at ``<run>/config.yaml``:
    a sweep or a later run can load it like any config file."""
    run.root.mkdir(parents=True, exist_ok=True)
    path = run / CONFIG_FILE
    write_text_atomically(path, yaml.safe_dump(plain(asdict(config)), sort_keys=False))
    return path


def _check_every_node_sees(run: RunFolder) -> None:
    """Before any stage's workers write: every node of the cluster must see the run folder."""
    ray = sys.modules.get("ray")  # not imported: no cluster is connected
    if ray is None or not ray.is_initialized():
        return
    if blind := nodes_without(run.root):
        raise StorageNotShared(f"run folder {run.root} is not visible on {', '.join(blind)}: every node of the cluster "
                          "must see it at the same path (a shared file system)")


def run_pipeline(config: PipelineConfig, root: Path, from_stage: str | None = None, progress: bool = True,
                 stages: tuple[Stage, ...] = STAGES) -> Path:
    """Run every stage not yet complete; returns the last stage's first artifact (the
    report). Validation (stale stages, --from) happens before anything is deleted or started;
    on a connected cluster whose nodes do not all see the run folder, ``StorageNotShared`` is
    raised before any stage starts."""
    run = RunFolder(under_root(root, config.run_dir))
    pending = to_run(config, from_stage, stages)
    problems = run_problems(config, run, from_stage, stages)
    if problems:
        raise ConfigError("\n".join(problems))
    for stage in pending if from_stage else ():
        stage.clear(run)
    save_config(config, run)
    # read before any stage runs: a stage writes only its own marker
    finished = {stage.name: completed(stage, run, config) for stage in pending}
    if None in finished.values():
        _check_every_node_sees(run)
    tracker = Tracker(config.tracking, run.root, title=config.run_dir)
    # the stages get the env's folders taken from the root, once; the markers keep them as written
    resolved = replace(config, env=paths_under(config.env, root))
    for stage in pending:
        done, settings = finished[stage.name], stage_settings(stage, config)
        if done is not None:
            print(f"[{stage.name}] done earlier ({done['seconds']:.0f} s), skipped")
            tracker.stage(stage.name, settings, done["seconds"], [run / name for name in stage.artifacts],
                          only_if_missing=True)
            continue
        earlier = stage.completed(run)  # finished for fewer seeds: kept, and the new seeds added
        started = run.read_started(stage.name)
        if started is not None and settings_change(started, stage, config) and not seeds_added(started, stage, config):
            print(f"[{stage.name}] stopped half way earlier with other settings: starting it over")
            stage.clear(run)
            earlier = None
        run.start(stage.name, settings)
        print(f"[{stage.name}] running" + (" for the added seeds" if earlier else ""))
        began = time.perf_counter()
        facts = stage.run(resolved, run, root, progress)
        seconds = time.perf_counter() - began
        if earlier:
            facts = merged_facts({k: v for k, v in earlier.items() if k not in ("settings", "seconds")}, facts)
            seconds += earlier["seconds"]
        run.finish(stage.name, settings, seconds, **facts)
        print(f"[{stage.name}] finished in {seconds:.0f} s")
        tracker.stage(stage.name, settings, seconds, [run / name for name in stage.artifacts])
    tracker.files([run / CONFIG_FILE, *(run / name for name in stages[-1].artifacts)])
    return run / stages[-1].artifacts[0]
