"""Ray Tune over DEPO's α1, α2 and β (or depo_weighted's γ_token, γ_step and β) from a pipeline
run's π_BC, and the paper's studies.

    python sweeps/alpha_grid.py                                  # α1, α2 in {0,1,2,3}, β in {0.1,0.2}
    python sweeps/alpha_grid.py --alpha1 0 3 --alpha2 0 3 --beta 0.2
    python sweeps/alpha_grid.py --loss depo_weighted --gamma-token 0 1 --gamma-step 0 1 --name weighted
    python sweeps/alpha_grid.py --loss depo depo_weighted --alpha1 0 3 --alpha2 0 3 --gamma-token 0 1 \
        --gamma-step 0 1 --beta 0.2 --name front       # both losses' grids, one Pareto front
    python sweeps/alpha_grid.py --search random --num-samples 6
    python sweeps/alpha_grid.py --study sample_efficiency         # 25/50/75/100% of the data
    python sweeps/alpha_grid.py --study ablation                  # α1 only, α2 only, joint, penalty
    python sweeps/alpha_grid.py --dry-run                         # check and list the trials

The pipeline (``--pipeline``, default configs/cpu_pipeline.yaml) must have run through bc.
Outputs go to <run_dir>/sweeps/<name>/: results.csv, pareto.csv, pareto.png (and the study's
CSV / PNG). Running the same command again restores the Tune experiment: finished trials are
not run again. Also works under ``ray job submit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
from pathlib import Path

from depo_ray.config import ConfigError, load_job_config
from depo_ray.losses.config import EFFICIENCY_SETTINGS
from depo_ray.tracking import Tracker
from depo_ray.tune.config import STUDIES, Grid, SweepConfig
from depo_ray.tune.sweep import (LOSS_SETTINGS, check_fits, prepare_sweep, run_sweep, study_points, trial_key,
                                 trial_params)

ROOT = Path(__file__).resolve().parents[1]
GRID = tuple(f.name for f in dataclasses.fields(Grid))


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML SweepConfig (relative to the project root); flags below override it")
    parser.add_argument("--pipeline", help="pipeline config whose run the sweep starts from")
    parser.add_argument("--study", choices=STUDIES)
    parser.add_argument("--name", help="folder under <run_dir>/sweeps/ (default: the study's name)")
    parser.add_argument("--seed", type=int, help="which pipeline seed's π_BC")
    parser.add_argument("--loss", choices=list(EFFICIENCY_SETTINGS), nargs="+",
                        help="the trials' loss, or several on one front (default: the pipeline's depo section's)")
    for name in GRID:
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, nargs="+", help=f"{name} values of the grid")
    parser.add_argument("--fractions", type=float, nargs="+", help="data shares of the sample_efficiency study")
    parser.add_argument("--search", help="grid, random, or a Ray Tune searcher name (optuna, hyperopt, ...; installed by you)")
    parser.add_argument("--num-samples", type=int)
    parser.add_argument("--max-concurrent-trials", type=int)
    parser.add_argument("--dry-run", action="store_true", help="check the config and the run, list the trials")
    return parser.parse_args(argv)


def sweep_config(args) -> SweepConfig:
    config = load_job_config(SweepConfig, ROOT, args.config) if args.config else SweepConfig()
    grid = {k: tuple(getattr(args, k)) for k in GRID if getattr(args, k)}
    flags = {"pipeline": args.pipeline, "study": args.study, "name": args.name, "seed": args.seed,
             "losses": tuple(args.loss) if args.loss else None,
             "search": args.search, "num_samples": args.num_samples, "max_concurrent_trials": args.max_concurrent_trials,
             "fractions": tuple(args.fractions) if args.fractions else None}
    try:
        return dataclasses.replace(config, grid=dataclasses.replace(config.grid, **grid),
                                   **{k: v for k, v in flags.items() if v is not None})
    except ValueError as error:
        raise SystemExit(f"config error: {error}") from None


def listed_trials(points: dict[str, list]) -> list[str]:
    keys = list(points)
    return [trial_key(trial_params(dict(zip(keys, combo)))) for combo in itertools.product(*points.values())]


def resources(dry_run: bool) -> tuple[float, float]:
    """CPUs and GPUs for the trials: this machine's for a dry run, else the cluster's (connected
    to, or started, here)."""
    if dry_run:
        import torch

        return os.cpu_count() or 1, torch.cuda.device_count()
    import ray

    from depo_ray.cluster import connect

    connect()
    return ray.cluster_resources().get("CPU", 0), ray.cluster_resources().get("GPU", 0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = sweep_config(args)
    try:
        job = prepare_sweep(config, ROOT)  # before Ray starts: a refused sweep (a changed grid) fails in seconds
        cpus, gpus = resources(args.dry_run)
        check_fits(job, cpus, gpus)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
    from depo_ray.tune.sweep import max_concurrent

    trials = listed_trials(study_points(config, job.depo.loss))
    how = f"{len(trials)} grid points" if config.search == "grid" else f"{config.num_samples} draws ({config.search})"
    print(f"sweep {config.folder_name}: {how}, {max_concurrent(job, cpus, gpus)} at once; "
          f"each trial holds {job.trial_cpus:g} CPUs, {job.trial_gpus:g} GPUs\nfolder: {job.folder}")
    if args.dry_run:
        print("\n".join(f"  {t}" for t in trials))
        return
    from depo_ray.evaluate.episodes import read_results
    from depo_ray.tune.report import paired_against, write_outputs

    rows = run_sweep(job, cpus, gpus)
    trials = {row["trial"]: read_results(job.folder / "trials" / row["trial"] / "eval") for row in rows}
    paired = paired_against(trials, {m: read_results(folder) for m, folder in job.baseline_folders.items()})
    outputs = write_outputs(rows, config.study, job.baselines, job.folder, paired)
    for path in outputs:
        print(f"wrote {path}")
    # the trials under the pipeline run's MLflow parent (the run folder is two levels up)
    tracker = Tracker(job.tracking, job.folder.parents[1], title=str(job.folder.parents[1].name))
    tracker.trials(f"sweep {config.folder_name}", rows, settings=("loss", *LOSS_SETTINGS, "fraction"), files=outputs)


if __name__ == "__main__":
    main()
