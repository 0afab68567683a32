"""What a pipeline run will do and what it needs, checked before any work.

``plan_run`` gives each stage's status and the Ray resources it holds at its peak;
``resource_problems`` compares them with what the cluster (or, for ``--dry-run``, this
machine) has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from depo_ray.config import under_root
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.runner import completed, forced_stages, run_problems, to_run
from depo_ray.pipeline.stage import RunFolder, Stage, StageNeeds
from depo_ray.pipeline.recipe import STAGES


def stage_needs(config: PipelineConfig, stages: tuple[Stage, ...] = STAGES) -> dict[str, StageNeeds]:
    """What each stage this config runs holds on the cluster at its peak, by stage name."""
    return {s.name: s.needs(config) for s in to_run(config, None, stages)}


def stage_status(config: PipelineConfig, run: RunFolder, from_stage: str | None,
                 stages: tuple[Stage, ...] = STAGES) -> dict[str, str]:
    """Each stage this config runs: ``done`` (skipped), ``todo`` or ``redo`` (``--from``)."""
    forced = forced_stages(config, from_stage, stages)
    return {s.name: "redo" if s.name in forced else "done" if completed(s, run, config) else "todo"
            for s in to_run(config, None, stages)}


def resource_problems(needs: dict[str, StageNeeds], cpus: float, gpus: float) -> list[str]:
    problems = []
    for stage, need in needs.items():
        if need.cpus > cpus:
            problems.append(f"{stage}: needs {need.cpus:g} CPUs at once ({need.actors}); the cluster has {cpus:g}")
        if need.gpus > gpus:
            problems.append(f"{stage}: needs {need.gpus:g} GPUs at once ({need.actors}); the cluster has {gpus:g}")
    return problems


def format_plan(needs: dict[str, StageNeeds], status: dict[str, str]) -> str:
    rows = [("stage", "status", "work", "actors")] + [(stage, status[stage], n.work, n.actors) for stage, n in needs.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows)


@dataclass(frozen=True)
class Plan:
    """A run checked before any work: the folder, each stage's status and needs, and why
    it must not start (stale stages, ``--from`` over stages that never completed)."""
    run: RunFolder
    status: dict[str, str]
    needs: dict[str, StageNeeds]
    problems: list[str]

    def table(self) -> str:
        return f"run folder: {self.run.root}\n{format_plan(self.needs, self.status)}"

    def pending(self) -> dict[str, StageNeeds]:
        """The needs of the stages that will run (a finished stage needs nothing)."""
        return {stage: need for stage, need in self.needs.items() if self.status[stage] != "done"}


def plan_run(config: PipelineConfig, root: Path, from_stage: str | None, stages: tuple[Stage, ...] = STAGES) -> Plan:
    run = RunFolder(under_root(root, config.run_dir))
    return Plan(run, stage_status(config, run, from_stage, stages), stage_needs(config, stages),
                run_problems(config, run, from_stage, stages))
