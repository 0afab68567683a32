"""What a pipeline run will do and what it needs, checked before any work.

``stage_needs`` gives the Ray resources each stage holds at its peak; ``resource_problems``
compares them with what the cluster (or, for ``--dry-run``, this machine) has.
"""

from __future__ import annotations

from dataclasses import dataclass

from depo_ray.pipeline.config import PipelineConfig
from depo_ray.serving.router import ServingConfig
from depo_ray.train.config import TrainConfig


@dataclass(frozen=True)
class StageNeeds:
    stage: str
    work: str
    """What the stage does, in a few words."""
    actors: str
    """The Ray actors it starts."""
    cpus: float
    gpus: float


def _tasks(task_ids, task_range) -> str:
    if task_ids is None:
        return f"tasks [{task_range[0]}, {task_range[1]})"
    return f"{len(task_ids)} tasks" if len(task_ids) > 6 else f"tasks {list(task_ids)}"


def _train(stage: str, config: TrainConfig, what: str) -> StageNeeds:
    gpus = config.num_workers if config.use_gpu else 0
    actors = f"{config.num_workers} train worker(s) x {config.cpus_per_worker} CPU" + (" + 1 GPU" if config.use_gpu else "")
    return StageNeeds(stage, f"{what}: loss {config.loss.name}, {config.epochs} epochs, batch {config.global_batch_size}",
                      actors, config.num_workers * config.cpus_per_worker, gpus)


def _served(serving: ServingConfig, workers: int, cpus_per_worker: float, kind: str) -> tuple[str, float, float]:
    actors = (f"{serving.replicas} vLLM replica(s) x {serving.cpus_per_replica} CPU"
              + (f" + {serving.gpus_per_replica} GPU" if serving.gpus_per_replica else "")
              + f", {workers} {kind} x {cpus_per_worker} CPU")
    return actors, serving.replicas * serving.cpus_per_replica + workers * cpus_per_worker, serving.replicas * serving.gpus_per_replica


def stage_needs(config: PipelineConfig) -> list[StageNeeds]:
    needs = []
    if config.policy is None:
        b = config.bootstrap
        rounds = _train("bootstrap", b.round_config, "")
        needs.append(StageNeeds("bootstrap", f"tiny model, expert demos of {_tasks(b.task_ids, b.tasks)}, "
                                             f"BC up to {b.max_rounds} rounds", rounds.actors, rounds.cpus, rounds.gpus))
    g = config.generate
    if g.teacher is not None:  # a remote model: no local replicas
        actors, cpus, gpus = f"{g.workers} MCTS workers x {g.cpus_per_worker} CPU -> {g.teacher.base_url}", g.workers * g.cpus_per_worker, 0
    else:
        actors, cpus, gpus = _served(g.serving, g.workers, g.cpus_per_worker, "MCTS workers")
    needs.append(StageNeeds("generate", f"MCTS on {_tasks(g.task_ids, g.tasks)}: {g.search.simulations} simulations, "
                                        f"{g.search.children} children", actors, cpus, gpus))
    t = config.label.thresholds
    needs.append(StageNeeds("label", f"κ0={t.kappa0} κ1={t.kappa1} κ2={t.kappa2}"
                                     + (f", with expert demos ({config.label.expert_demos})" if config.label.expert_demos != "none" else "")
                                     + (", rephrased" if config.label.rephrase else ""), "none (driver)", 0, 0))
    needs.append(_train("bc", config.bc, "D_BC from the starting policy"))
    needs.append(_train("kto", config.kto, "D and U from π_BC"))
    needs.append(_train("depo", config.depo, "D and U from π_BC"))
    e = config.evaluate
    actors, cpus, gpus = _served(e.serving, e.workers, e.cpus_per_worker, "evaluators")
    tasks = f"{len(e.task_ids)} tasks" if e.task_ids else "the test tasks"
    seeds = f", {len(config.seeds)} seeds" if len(config.seeds) > 1 else ""
    needs.append(StageNeeds("evaluate", f"bc, kto, depo on {tasks}, greedy{seeds}", actors, cpus, gpus))
    if config.math is not None:
        m = config.math
        actors, cpus, gpus = _served(m.serving, m.workers, m.cpus_per_worker, "solvers")
        needs.append(StageNeeds("math", f"bc, kto, depo on {m.benchmark}" + (f" (first {m.limit})" if m.limit else "")
                                        + seeds, actors, cpus, gpus))
    needs.append(StageNeeds("report", "report.md and plots", "none (driver)", 0, 0))
    return needs


def resource_problems(needs: list[StageNeeds], cpus: float, gpus: float) -> list[str]:
    problems = []
    for need in needs:
        if need.cpus > cpus:
            problems.append(f"{need.stage}: needs {need.cpus:g} CPUs at once ({need.actors}); the cluster has {cpus:g}")
        if need.gpus > gpus:
            problems.append(f"{need.stage}: needs {need.gpus:g} GPUs at once ({need.actors}); the cluster has {gpus:g}")
    return problems


def format_plan(needs: list[StageNeeds], status: dict[str, str]) -> str:
    rows = [("stage", "status", "work", "actors")] + [(n.stage, status.get(n.stage, "todo"), n.work, n.actors) for n in needs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows)
