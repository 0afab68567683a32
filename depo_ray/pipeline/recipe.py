"""The pipeline's stages, in order: ``STAGES``. Each entry says what the stage writes, what
its output depends on, what it holds on the cluster and how it runs; each stage reads the
artifacts of the ones before it from the run folder and writes its own.

Adding a stage is adding an entry to ``STAGES`` (and, when it has settings, a section to
``PipelineConfig``); adding a trained method is an entry of ``config.METHODS`` (and its
section).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

from depo_ray.bootstrap.config import BootstrapRun
from depo_ray.bootstrap.warm_start import bootstrap_policy, write_expert_demos
from depo_ray.config import model_under_root
from depo_ray.env_setup import expert_config
from depo_ray.evaluate.episodes import SUMMARY, run_evaluation
from depo_ray.evaluate.math import run_math_evaluation
from depo_ray.labeling import invalid_turn_examples, label_expert_demos, label_records, select_bc, summary_table
from depo_ray.pipeline.config import METHODS, Method, PipelineConfig
from depo_ray.pipeline.report import write_report
from depo_ray.pipeline.stage import RunFolder, Stage, StageNeeds
from depo_ray.records import read_records, write_shard
from depo_ray.rephrase import rephrase_record
from depo_ray.search.generate import run_generation
from depo_ray.serving.config import ServingConfig
from depo_ray.serving.openai_client import OpenAIEndpoint
from depo_ray.settings import field_defaults
from depo_ray.tokens import tokens_per_turn
from depo_ray.train.config import TrainConfig

# Each stage's runtimes (torch, transformers, Ray) load when it runs: plans and dry runs import
# this module.

DRIVER = "none (driver)"


def _task_range(task_ids, task_range) -> str:
    if task_ids is None:
        return f"tasks [{task_range[0]}, {task_range[1]})"
    return f"{len(task_ids)} tasks" if len(task_ids) > 6 else f"tasks {list(task_ids)}"


def _seed_count(config: PipelineConfig) -> str:
    return f", {len(config.seeds)} seeds" if len(config.seeds) > 1 else ""


def _training(config: TrainConfig, what: str) -> StageNeeds:
    gpus = config.num_workers if config.use_gpu else 0
    actors = f"{config.num_workers} train worker(s) x {config.cpus_per_worker} CPU" + (" + 1 GPU" if config.use_gpu else "")
    return StageNeeds(f"{what}: loss {config.loss.name}, {config.epochs} epochs, batch {config.global_batch_size}",
                      actors, config.num_workers * config.cpus_per_worker, gpus)


def _served(work: str, serving: ServingConfig, workers: int, cpus_per_worker: float, kind: str) -> StageNeeds:
    actors = (f"{serving.replicas} vLLM replica(s) x {serving.cpus_per_replica} CPU"
              + (f" + {serving.gpus_per_replica} GPU" if serving.gpus_per_replica else "")
              + f", {workers} {kind} x {cpus_per_worker} CPU")
    return StageNeeds(work, actors, serving.replicas * serving.cpus_per_replica + workers * cpus_per_worker,
                      serving.replicas * serving.gpus_per_replica)


def _section_and_seeds(section: str):
    """Settings of a stage run once per seed from its own section."""
    return lambda config, as_data: {section: as_data(getattr(config, section)), "seeds": config.seeds}


def _warm_started(config: PipelineConfig) -> bool:
    return config.policy is None or config.bootstrap.warm_start


def starting_policy(config: PipelineConfig, run: RunFolder, root: Path) -> str:
    """The policy the search serves and BC starts from: the bootstrap's, or the pretrained one."""
    if not _warm_started(config):
        return model_under_root(root, config.policy)
    return str(run.root / run.read_marker("bootstrap")["policy"])


# --- bootstrap: the tiny model (or, asked, the pretrained one) BC-trained on expert demos ---

def _bootstrap_settings(config: PipelineConfig, as_data) -> dict:
    # the expert's full settings, so a changed default in its code counts as a change
    expert = as_data(expert_config(config.env.name, config.bootstrap.expert))
    return {"bootstrap": {**as_data(config.bootstrap), "expert": expert}, "env": as_data(config.env),
            **({"policy": config.policy} if config.policy else {})}


def _bootstrap_needs(config: PipelineConfig) -> StageNeeds:
    b = config.bootstrap
    rounds = _training(b.round_config, "")
    twins = " (+ direct twins)" if b.direct_twins else ""
    return replace(rounds, work=f"{config.policy or 'tiny model'}, expert demos of {_task_range(b.task_ids, b.tasks)}"
                                f"{twins}, BC up to {b.max_rounds} rounds")


def bootstrap_run(config: PipelineConfig, folder: Path, root: Path) -> BootstrapRun:
    """The pipeline's bootstrap, writing in ``folder``: of its pretrained policy (or a tiny
    model), in its env, with the smaller of generate's and evaluate's turn budgets."""
    budget = min(config.generate.search.max_new_tokens, config.evaluate.max_new_tokens)
    policy = model_under_root(root, config.policy) if config.policy else None
    return BootstrapRun(str(folder), config.env, policy, budget)


def _bootstrap(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    policy = bootstrap_policy(config.bootstrap, bootstrap_run(config, run / "bootstrap", root), progress=progress)
    return {"policy": str(policy.relative_to(run.root))}  # relative to the run folder, so a moved run still resumes


# --- demos: the expert's demonstrations for a pretrained policy (labeled with its data) -----

def _demos_applies(config: PipelineConfig) -> bool:
    return not _warm_started(config) and config.label.expert_demos != "none"


def demos_folder(config: PipelineConfig, run: RunFolder) -> Path:
    """Where the expert demonstrations the label stage reads are: the bootstrap's, or the
    demos stage's for a pretrained policy searched without a warm start."""
    return run / ("bootstrap/demos" if _warm_started(config) else "demos")


def _demos_settings(config: PipelineConfig, as_data) -> dict:
    b = config.bootstrap
    return {"tasks": b.tasks, "task_ids": b.task_ids, "policy": config.policy, "env": as_data(config.env),
            "expert": as_data(expert_config(config.env.name, b.expert)), "direct_twins": as_data(b)["direct_twins"]}


def _demos(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    from depo_ray.models.loading import load_tokenizer

    labeled = write_expert_demos(config.bootstrap, config.env, load_tokenizer(starting_policy(config, run, root)),
                                 run / "demos", progress)
    return {"demos": len(labeled), "desirable": sum(r.label == "desirable" for r in labeled)}


# --- generate: MCTS with the starting policy ------------------------------------------------

def _generate_settings(config: PipelineConfig, as_data) -> dict:
    return {"generate": as_data(config.generate), "env": as_data(config.env), "policy": config.policy}


def _generate_needs(config: PipelineConfig) -> StageNeeds:
    g = config.generate
    work = f"MCTS on {_task_range(g.task_ids, g.tasks)}: {g.search.simulations} simulations, {g.search.children} children"
    if g.teacher is not None:  # a remote model: no local replicas
        return StageNeeds(work, f"{g.workers} MCTS workers x {g.cpus_per_worker} CPU -> {g.teacher.base_url}",
                          g.workers * g.cpus_per_worker, 0)
    return _served(work, g.serving, g.workers, g.cpus_per_worker, "MCTS workers")


def _generate(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    totals = run_generation(config.generate, starting_policy(config, run, root), config.env, run.trajectories,
                            progress=progress)
    if totals["failed"]:  # no marker: the next run searches just these again
        raise RuntimeError(f"generate: the search failed on tasks {totals['failed']} (errors above); "
                           "the other tasks' shards are kept and a re-run retries only these")
    return {"totals": totals}


# --- label: D, U and D_BC -------------------------------------------------------------------

def _label_needs(config: PipelineConfig) -> StageNeeds:
    t = config.label.thresholds
    return StageNeeds(f"κ0={t.kappa0} κ1={t.kappa1} κ2={t.kappa2}"
                      + (f", with expert demos ({config.label.expert_demos})" if config.label.expert_demos != "none" else "")
                      + (f", over {t.relative_step_budget:g}x the task's shortest success is long"
                         if t.relative_step_budget else "")
                      + (", long successes undesirable" if t.long_successes == "undesirable" else "")
                      + (", invalid turns undesirable" if config.label.invalid_turns == "undesirable" else "")
                      + (", rephrased" if config.label.rephrase else ""), DRIVER, 0, 0)


def _starting_tokenizer(config: PipelineConfig, run: RunFolder, root: Path):
    from depo_ray.models.loading import load_tokenizer

    return load_tokenizer(starting_policy(config, run, root))


def _label(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    """Label every searched trajectory (and the expert demos, or their desirable ones, when
    asked), rephrase the desirable ones when a rephraser is set, add the invalid turns as
    examples when asked, and write all.parquet (D, U and dropped) and bc.parquet (D_BC)."""
    searched = read_records(run.trajectories)
    demos = read_records(demos_folder(config, run)) if config.label.expert_demos != "none" else []
    # a task's shortest success, for a relative step budget, may be the search's or the expert's
    labeled = label_records(searched, config.label.thresholds, known=demos)
    labeled += label_expert_demos(demos, config.label.thresholds, config.label.expert_demos, known=searched)
    turn_examples = []
    if config.label.invalid_turns == "undesirable":
        turn_examples = invalid_turn_examples(searched, partial(tokens_per_turn, _starting_tokenizer(config, run, root)))
    if config.label.rephrase is not None:
        endpoint, tokenizer = OpenAIEndpoint(config.label.rephrase.endpoint), _starting_tokenizer(config, run, root)
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
    labeled += turn_examples  # after rephrasing: an invalid turn is kept as the policy wrote it
    bc = select_bc(labeled, t)
    write_shard(labeled, run.labeled)
    write_shard(bc, run.d_bc)
    table = summary_table(labeled)
    run.labeling_summary.write_text(table + "\n")
    print(table)
    return {"records": len(labeled), **counts, "bc": len(bc), "invalid_turn_examples": len(turn_examples)}


# --- bc, kto, depo: one train stage per method ----------------------------------------------

def _train(method: Method, config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    """BC from the starting policy on D_BC, or a preference method from the same seed's π_BC
    on D and U, once per seed. A seed whose model is exported is not trained again when the
    stage resumes after a crash."""
    from depo_ray.train.run import run_bc, run_distill, run_preference

    metrics = {}
    for seed in config.seeds:
        if (run.model(method.name, seed) / "config.json").exists():
            continue
        if not method.preference and config.pi_bc == "bootstrap":
            _link(run.model(method.name, seed), starting_policy(config, run, root))
            continue
        train, output = replace(getattr(config, method.name), seed=seed), run.trained(method.name, seed)
        if method.preference:
            # every preference method of a seed packs the same batches, scored by the same π_BC: once
            result, _ = run_preference(train, str(run.model("bc", seed)), output, [str(run.labeled)], run.scored(seed))
        elif train.teacher is not None:  # the student learns the teacher's distributions on D_BC
            result, _ = run_distill(replace(train, teacher=model_under_root(root, train.teacher)),
                                    starting_policy(config, run, root), output, [str(run.d_bc)])
        else:
            result, _ = run_bc(train, starting_policy(config, run, root), output, [str(run.d_bc)])
        metrics[f"seed-{seed}"] = result.metrics
    return {"metrics": metrics}


def _link(model: Path, policy: str) -> None:
    """π_BC as the bootstrap's policy: a relative link, so the run folder can move."""
    model.parent.mkdir(parents=True, exist_ok=True)
    model.unlink(missing_ok=True)
    model.symlink_to(os.path.relpath(policy, model.parent), target_is_directory=True)


def _train_settings(method: Method):
    settings = _section_and_seeds(method.name)
    if method.preference:
        return settings
    # π_BC's source is stored only when it is not the default, so older markers still match
    return lambda config, as_data: {**settings(config, as_data),
                                    **({"pi_bc": config.pi_bc} if config.pi_bc != "trained" else {})}


def _train_needs(method: Method, config: PipelineConfig) -> StageNeeds:
    if not method.preference and config.pi_bc == "bootstrap":
        return StageNeeds("π_BC is the bootstrap's policy (linked, nothing trained)", DRIVER, 0, 0)
    what = "D and U from π_BC" if method.preference else "D_BC from the starting policy"
    return _training(getattr(config, method.name), what)


def train_stage(method: Method) -> Stage:
    return Stage(method.name, (method.name,), _train_settings(method),
                 needs=partial(_train_needs, method), run=partial(_train, method),
                 applies=lambda config: getattr(config, method.name) is not None)


# --- evaluate: every method's policy of every seed, on the env (and on math) ---------------

def _evaluated(config: PipelineConfig, as_data) -> dict:
    """The optional methods evaluated and the math section, when set: adding either makes a
    finished evaluation stale, while the settings of a run made before they existed still
    match. At the code's defaults (``field_defaults``) neither is set."""
    if as_data is field_defaults:
        return {}
    optional = [m.name for m in config.methods() if m.optional]
    return {**({"optional_methods": optional} if optional else {}),
            **({"math": as_data(config.math)} if config.math is not None else {})}


def _evaluate_settings(config: PipelineConfig, as_data) -> dict:
    return {"evaluate": as_data(config.evaluate), "env": as_data(config.env), "seeds": config.seeds,
            **_evaluated(config, as_data)}


def _methods(config: PipelineConfig) -> str:
    return ", ".join(m.name for m in config.methods())


def _evaluate_needs(config: PipelineConfig) -> StageNeeds:
    e, m = config.evaluate, config.math
    tasks = f"{len(e.task_ids)} tasks" if e.task_ids else f"task set {e.task_set!r}"
    work = f"{_methods(config)} on {tasks}, greedy{_seed_count(config)}"
    if m is None:
        return _served(work, e.serving, e.workers, e.cpus_per_worker, "evaluators")
    work += f"; then on math {m.benchmark}" + (f" (first {m.limit})" if m.limit else "")
    return max(_served(work, e.serving, e.workers, e.cpus_per_worker, "evaluators"),
               _served(work, e.serving, m.workers, m.cpus_per_worker, "solvers"), key=lambda needs: needs.cpus)


def _evaluate(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    """Each (method, seed) policy plays the held-out tasks and, with a math section, then
    solves the math problems on the same engine. The policies take turns on the same engines
    (their weights loaded into them) where they can. Each keeps its summary: a resumed stage
    skips what is done, and serves no policy with nothing left."""
    from depo_ray.serving.router import serving_in_turn

    summaries, math = {}, {}
    played: dict[Path, list[Path]] = {}  # a policy's real folder -> its evaluation (and math) folders
    with serving_in_turn(config.evaluate.serving, "eval-router") as turns:
        for method in config.methods():
            for seed in config.seeds:
                key, policy = f"{method.name}/seed-{seed}", str(run.model(method.name, seed))
                folders = [run.evaluation(method.name, seed), *([run.math(method.name, seed)] if config.math else [])]
                # one policy under several seeds (pi_bc: bootstrap): greedy decoding plays it once
                for earlier, now in zip(played.setdefault(Path(policy).resolve(), folders), folders):
                    if earlier != now and (earlier / SUMMARY).exists() and not (now / SUMMARY).exists():
                        shutil.copytree(earlier, now, dirs_exist_ok=True)
                left = [folder for folder in folders if not (folder / SUMMARY).exists()]
                router = turns.serve(policy) if left else None
                summaries[key] = run_evaluation(config.evaluate, policy, config.env, folders[0], method=method.name,
                                                progress=progress, router=router)
                if config.math:
                    math[key] = run_math_evaluation(config.math, policy, folders[1], progress=progress, router=router)
    return {"summaries": summaries, **({"math": math} if math else {})}


# --- report ---------------------------------------------------------------------------------

def _report(config: PipelineConfig, run: RunFolder, root: Path, progress: bool) -> dict:
    seconds = {s.name: done["seconds"] for s in STAGES if (done := s.completed(run))}
    return {"report": str(write_report(config, run, seconds))}


STAGES: tuple[Stage, ...] = (
    Stage("bootstrap", ("bootstrap",), _bootstrap_settings, _bootstrap_needs, _bootstrap, applies=_warm_started),
    Stage("demos", ("demos",), _demos_settings,
          lambda config: StageNeeds(f"expert demos of {_task_range(config.bootstrap.task_ids, config.bootstrap.tasks)}, "
                                    "tokenized for the policy", DRIVER, 0, 0), _demos, applies=_demos_applies),
    Stage("generate", ("trajectories",), _generate_settings, _generate_needs, _generate),
    Stage("label", ("labeled",), lambda config, as_data: as_data(config.label), _label_needs, _label),
    *(train_stage(method) for method in METHODS),
    Stage("evaluate", ("eval", "math"), _evaluate_settings, _evaluate_needs, _evaluate),
    Stage("report", ("report.md", "plots"), lambda config, as_data: {},
          lambda config: StageNeeds("report.md and plots", DRIVER, 0, 0), _report, always_runs=True),
)
"""Every stage, in the order they run."""
