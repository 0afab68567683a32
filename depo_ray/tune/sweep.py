"""A Ray Tune sweep of DEPO trials, all from one pipeline run's π_BC.

    prepare_sweep(config, root)   -> SweepJob (checks the run and the sweep folder, before any cluster)
    check_fits(job, cpus, gpus)   -> ConfigError unless a trial fits the cluster
    run_sweep(job, cpus, gpus)    -> one row per finished trial (scores the data with π_BC once;
                                     fresh, or Tuner.restore)

Each trial is a function trainable that builds its own Ray Train ``TorchTrainer``
(``run_preference``) on the shared reference log-probs, then evaluates the exported model
with vLLM and reports Succ, Reward, T@All, S@All, ... to Tune. A trial's folder is named by
its settings: a trial cut short resumes its training from the last checkpoint and skips
what it had finished (the exported model, the evaluation).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from depo_ray.config import ConfigError, load_yaml, under_root
from depo_ray.env_setup import EnvConfig, paths_under
from depo_ray.evaluate.config import EvalConfig
from depo_ray.evaluate.episodes import SUMMARY, run_evaluation
from depo_ray.files import fingerprint, write_text_atomically
from depo_ray.losses.config import EFFICIENCY_SETTINGS, LossConfig
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.outputs import seed_outputs
from depo_ray.pipeline.plan import stage_needs
from depo_ray.settings import field_defaults, first_difference, plain, without_scheduling
from depo_ray.tracking import TrackingConfig
from depo_ray.train.config import FINAL, TrainConfig
from depo_ray.tune.config import SweepConfig

# Ray and train.run (torch) load when trials run: a sweep's config is checked first, in seconds.

ABLATIONS = ("alpha1_only", "alpha2_only", "joint", "penalty")
TRIAL_MEMORY = 256 * 1024**2
REPORTED = ("succ", "reward", "t_all", "s_all", "t_succ", "s_succ", "tokens_per_turn", "invalid_action_rate")
LOSS_SETTINGS = {"alpha1": "a1", "alpha2": "a2", "gamma_token": "gt", "gamma_step": "gs", "beta": "b"}
"""The loss settings a trial can set, with their short names in trial folders."""


@dataclass(frozen=True)
class SweepJob:
    """What every trial shares, resolved from the sweep and pipeline configs."""
    config: SweepConfig
    folder: Path
    """<run_dir>/sweeps/<name>: trials/, reference/, tune/ and the outputs."""
    depo: TrainConfig
    """The trial template: the pipeline's depo section, with the chosen seed."""
    pi_bc: str
    """π_BC of the chosen seed: every trial starts from it."""
    shards: tuple[str, ...]
    evaluate: EvalConfig
    env: EnvConfig
    """The pipeline's environment, its folders taken from the project root."""
    baseline_folders: dict
    """Evaluation folders of the pipeline's BC and KTO (same seed) that exist, by method."""
    trial_cpus: float
    trial_gpus: float
    manifest: dict = field(default_factory=dict)
    """What the trials' results depend on (see ``sweep_manifest``), kept in the folder."""
    manifest_defaults: dict = field(default_factory=dict)
    """The manifest's settings at the code's defaults (see ``check_manifest``)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """The pipeline's MLflow settings: the trials are logged under the pipeline run."""
    pipeline_scored: str | None = None
    """The pipeline's scored preference data of this seed: reused when made the same way."""

    @property
    def baselines(self) -> dict:
        """Those evaluations' summaries (summary.json), by method."""
        return {method: json.loads((Path(folder) / SUMMARY).read_text()) for method, folder in self.baseline_folders.items()}

    @property
    def manifest_file(self) -> Path:
        return self.folder / "sweep.json"


def ablation_loss(variant: str, template: LossConfig, alpha1: float, alpha2: float) -> LossConfig:
    """The paper's §4.5 variants: one bonus term, both, both with the undesirable penalty."""
    settings = {"alpha1_only": ("depo", alpha1, 0.0), "alpha2_only": ("depo", 0.0, alpha2),
                "joint": ("depo", alpha1, alpha2), "penalty": ("depo_penalty", alpha1, alpha2)}
    if variant not in settings:
        raise ValueError(f"unknown ablation {variant!r}; expected one of {list(settings)}")
    name, a1, a2 = settings[variant]
    return replace(template, name=name, alpha1=a1, alpha2=a2)


def trial_train_config(params: dict, template: TrainConfig) -> TrainConfig:
    """A trial's training settings from its Tune parameters (the rest from the template)."""
    settings = {k: params[k] for k in LOSS_SETTINGS if k in params}
    loss = replace(template.loss, name=params.get("loss", template.loss.name), **settings)
    return replace(template, loss=loss, data_fraction=params.get("fraction", 1.0))


def trial_key(params: dict) -> str:
    """A folder name that is the trial's settings (stable across restores)."""
    settings = "".join(f"-{short}_{params[k]:g}" for k, short in LOSS_SETTINGS.items() if k in params)
    return f"{params.get('loss', 'depo')}{settings}-f_{params.get('fraction', 1.0):g}"


def study_points(config: SweepConfig, loss: LossConfig) -> dict[str, list]:
    """The values each Tune parameter takes in the study (one value: a constant). ``loss`` is
    the template; an alpha_grid of several losses makes each loss's settings one variant."""
    knobs = EFFICIENCY_SETTINGS[loss.name]
    if config.study == "alpha_grid":
        if len(config.losses) > 1:
            variants = [{"loss": name, **dict(zip(EFFICIENCY_SETTINGS[name], values))} for name in config.losses
                        for values in itertools.product(*(getattr(config.grid, k) for k in EFFICIENCY_SETTINGS[name]))]
            return {"variant": variants, "beta": list(config.grid.beta), "fraction": [1.0]}
        return {**{k: list(getattr(config.grid, k)) for k in knobs}, "beta": list(config.grid.beta),
                "loss": [loss.name], "fraction": [1.0]}
    if config.study == "sample_efficiency":
        return {**{k: [getattr(loss, k)] for k in knobs}, "beta": [loss.beta], "loss": [loss.name],
                "fraction": list(config.fractions)}
    a1, a2 = max(config.grid.alpha1), max(config.grid.alpha2)
    variants = [ablation_loss(v, loss, a1, a2) for v in ABLATIONS]
    return {"variant": [{"alpha1": v.alpha1, "alpha2": v.alpha2, "loss": v.name} for v in variants],
            "beta": [loss.beta], "fraction": [1.0]}


def param_space(config: SweepConfig, loss: LossConfig) -> dict:
    from ray import tune

    space = {}
    for key, values in study_points(config, loss).items():
        if len(values) == 1:
            space[key] = values[0]
        elif config.search == "grid":
            space[key] = tune.grid_search(values)
        else:
            space[key] = tune.choice(values)
    return space


def trial_params(params: dict) -> dict:
    """Tune's parameters flattened (the ablation's variant carries α1, α2 and the loss)."""
    flat = {k: v for k, v in params.items() if k != "variant"}
    flat.update(params.get("variant", {}))
    return flat


def prepare_sweep(config: SweepConfig, root: Path) -> SweepJob:
    """Check the pipeline run the sweep starts from and what its folder was made from; nothing
    is computed here and no cluster is needed (``check_fits`` then checks the cluster)."""
    pipeline_path = under_root(root, config.pipeline)
    pipeline = load_yaml(PipelineConfig, pipeline_path)
    if config.seed not in pipeline.seeds:
        raise ConfigError(f"seed: {config.seed} is not one of the pipeline's seeds {list(pipeline.seeds)}")
    if config.study == "ablation" and (max(config.grid.alpha1) == 0 or max(config.grid.alpha2) == 0):
        raise ConfigError("grid: the ablation uses the largest α1 and α2 of the grid; both must be above 0")
    outputs = seed_outputs(pipeline, root, config.seed)
    missing = outputs.missing()
    if missing:
        raise ConfigError(f"pipeline: {missing} (python jobs/pipeline.py --config {config.pipeline})")
    folder = outputs.studies / config.folder_name
    loss = replace(pipeline.depo.loss, name=config.losses[0] if config.losses else pipeline.depo.loss.name)
    depo = replace(pipeline.depo, seed=config.seed, loss=loss)
    needs = stage_needs(pipeline)
    trial_cpus = max(needs["depo"].cpus, needs["evaluate"].cpus)
    trial_gpus = max(needs["depo"].gpus, needs["evaluate"].gpus)
    found = {method: summary for method, summary in outputs.evaluations.items() if method in ("bc", "kto") and summary.exists()}
    job = SweepJob(config, folder, depo, str(outputs.bc_model), (str(outputs.labeled),), pipeline.evaluate, paths_under(pipeline.env, root),
                   {method: str(summary.parent) for method, summary in found.items()}, trial_cpus, trial_gpus,
                   sweep_manifest(config, pipeline, outputs.bc_model, outputs.labeled),
                   plain(sweep_settings(config, pipeline, as_data=field_defaults)), pipeline.tracking,
                   pipeline_scored=str(outputs.scored))
    check_manifest(job)
    return job


def sweep_settings(config: SweepConfig, pipeline: PipelineConfig, as_data=asdict) -> dict:
    """The settings a finished trial's folder depends on: the study and the pipeline's depo and
    evaluate sections (scheduling left out). ``as_data=field_defaults``: the same shape at the
    code's defaults."""
    study = {k: v for k, v in as_data(config).items() if k not in ("name", "max_concurrent_trials")}
    return {"sweep": study, "depo": without_scheduling(as_data(pipeline.depo)),
            "evaluate": without_scheduling(as_data(pipeline.evaluate)), "env": as_data(pipeline.env)}


def sweep_manifest(config: SweepConfig, pipeline: PipelineConfig, bc_model: Path, labeled: Path) -> dict:
    """Everything a finished trial's folder depends on: its settings and the π_BC and labeled
    files themselves."""
    return plain({**sweep_settings(config, pipeline), "pi_bc": fingerprint(bc_model), "labeled": fingerprint(labeled)})


def check_manifest(job: SweepJob) -> None:
    """A sweep folder is only resumed with what it was made from: a changed grid, template or
    a retrained π_BC would mix stale trials (kept by Tuner.restore) into the results. A setting
    added to the code after the folder was made counts as a change only off its default."""
    if not job.manifest_file.exists():
        return
    change = first_difference(json.loads(job.manifest_file.read_text()), job.manifest, defaults=job.manifest_defaults)
    if change:
        raise ConfigError(f"{job.folder} holds a sweep made from other settings or files ({change}); give this one "
                          f"another name (--name), or delete that folder to start it over")


def check_fits(job: SweepJob, cpus: float, gpus: float) -> None:
    """A trial must fit the cluster: it holds its training workers, then its evaluation."""
    if job.trial_cpus > cpus or job.trial_gpus > gpus:
        raise ConfigError(f"a trial needs {job.trial_cpus:g} CPUs and {job.trial_gpus:g} GPUs at once (the pipeline's "
                          f"depo and evaluate sections); the cluster has {cpus:g} and {gpus:g}")


def max_concurrent(job: SweepJob, cpus: float, gpus: float) -> int:
    """Trials that fit at once: a trial holds its training workers, then its vLLM replicas
    and evaluators, never both; the trial's own driver reserves nothing."""
    if job.config.max_concurrent_trials is not None:
        return job.config.max_concurrent_trials
    limits = [have / need for have, need in ((cpus, job.trial_cpus), (gpus, job.trial_gpus)) if need]
    return max(1, math.floor(min(limits))) if limits else 1


def depo_trial(params: dict, job: SweepJob) -> None:
    """One trial: DEPO from π_BC on the shared scored data, then greedy evaluation."""
    import ray
    from ray import tune
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from depo_ray.train.run import run_preference

    params = trial_params(params)
    key = trial_key(params)
    if job.config.search != "grid":  # draws can repeat a setting; each trial keeps its own folder
        key = f"{key}-{tune.get_context().get_trial_id()}"
    folder = job.folder / "trials" / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "attempts.log", "a") as log:  # one line per time this trial (re)starts
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    model = folder / FINAL
    if not (model / "config.json").exists():
        run_preference(trial_train_config(params, job.depo), job.pi_bc, folder, list(job.shards),
                       scored_folder=job.folder / "reference")
    # Tune places a trial's child actors in the trial's placement group, which holds no CPU
    # (see run_sweep): the evaluation runs as a task outside it, so its vLLM replicas and
    # evaluators are scheduled on the cluster like the pipeline's.
    outside = PlacementGroupSchedulingStrategy(placement_group=None)
    evaluate = ray.remote(num_cpus=0, scheduling_strategy=outside)(run_evaluation)
    summary = ray.get(evaluate.remote(job.evaluate, str(model), job.env, folder / "eval", method=key, progress=False))
    tune.report({**params, "trial": key, **{k: summary[k] for k in REPORTED}})


def run_sweep(job: SweepJob, cpus: float, gpus: float) -> list[dict]:
    """Score the data with π_BC once, then run (or restore) the Tune experiment; returns one
    row per finished trial: its parameters and metrics."""
    from ray import tune

    from depo_ray.train.run import adopt_scored, scored_preference_data

    job.folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(job.manifest_file, json.dumps(job.manifest, indent=2))
    reference = job.folder / "reference"
    if job.pipeline_scored and adopt_scored(job.depo, job.pi_bc, list(job.shards), reference, job.pipeline_scored):
        print(f"[sweep] reference log-probs of {job.pi_bc}: the pipeline's, {job.pipeline_scored}")
    else:
        print(f"[sweep] reference log-probs of {job.pi_bc} -> {reference}")
        scored_preference_data(job.depo, job.pi_bc, list(job.shards), reference)
    # The trial's own process only waits on its Train run and its evaluators: it reserves no
    # CPU (one would starve the training workers on a small machine), only some memory,
    # since Tune refuses an empty request.
    trainable = tune.with_resources(tune.with_parameters(depo_trial, job=job), {"CPU": 0, "memory": TRIAL_MEMORY})
    storage, name = job.folder / "tune", "experiment"
    if tune.Tuner.can_restore(str(storage / name)):
        print(f"[sweep] restoring {storage / name}: finished trials are kept, the others run")
        tuner = tune.Tuner.restore(str(storage / name), trainable, resume_unfinished=True, resume_errored=True)
    else:
        search_alg = None
        if job.config.search not in ("grid", "random"):
            from ray.tune.search import create_searcher

            search_alg = create_searcher(job.config.search, metric=job.config.metric, mode=job.config.mode)
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(job.config, job.depo.loss),
            tune_config=tune.TuneConfig(num_samples=job.config.num_samples, search_alg=search_alg,
                                        max_concurrent_trials=max_concurrent(job, cpus, gpus)),
            run_config=tune.RunConfig(name=name, storage_path=str(storage)),
        )
    grid = tuner.fit()
    rows = []
    for result in grid:
        if result.error is not None:
            print(f"[sweep] a trial failed: {result.error}")
        elif result.metrics and "trial" in result.metrics:
            # a setting the trial's loss does not have (γ for depo, α for depo_weighted) is None
            rows.append({k: result.metrics.get(k) for k in ("trial", "loss", *LOSS_SETTINGS, "fraction", *REPORTED)})
    return sorted(rows, key=lambda r: r["trial"])
