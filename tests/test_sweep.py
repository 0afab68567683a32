"""sweeps/alpha_grid.py: the study's trials and settings without Ray, then a two-trial sweep
from the small pipeline run (conftest.finished_run), in process on the session's Ray cluster,
run again to check that Tune restores it without re-running finished trials."""

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from depo_ray.losses.config import LossConfig
from depo_ray.train.config import TrainConfig
from depo_ray.tune.config import Grid, SweepConfig
from depo_ray.tune.sweep import SweepJob, ablation_loss, max_concurrent, study_points, trial_key, trial_params, trial_train_config

ROOT = Path(__file__).resolve().parents[1]
DEPO = LossConfig(name="depo", alpha1=2.0, alpha2=1.0, beta=0.2)


def alpha_grid_cli():
    """sweeps/alpha_grid.py as a module (it is a script, not a package member)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("alpha_grid", ROOT / "sweeps" / "alpha_grid.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def test_the_default_grid_is_alpha1_alpha2_by_beta():
    points = study_points(SweepConfig(), DEPO)
    assert points["alpha1"] == points["alpha2"] == [0.0, 1.0, 2.0, 3.0] and points["beta"] == [0.1, 0.2]
    assert points["loss"] == ["depo"] and points["fraction"] == [1.0]


def test_sample_efficiency_keeps_the_depo_settings_and_varies_the_data():
    points = study_points(SweepConfig(study="sample_efficiency"), DEPO)
    assert points == {"alpha1": [2.0], "alpha2": [1.0], "beta": [0.2], "loss": ["depo"], "fraction": [0.25, 0.5, 0.75, 1.0]}


def test_the_ablation_has_each_bonus_term_alone_both_and_the_penalty():
    points = study_points(SweepConfig(study="ablation", grid=Grid(alpha1=(0, 3), alpha2=(0, 2))), DEPO)
    assert points["variant"] == [{"alpha1": 3.0, "alpha2": 0.0, "loss": "depo"}, {"alpha1": 0.0, "alpha2": 2.0, "loss": "depo"},
                                 {"alpha1": 3.0, "alpha2": 2.0, "loss": "depo"}, {"alpha1": 3.0, "alpha2": 2.0, "loss": "depo_penalty"}]
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_loss("alpha3_only", DEPO, 1, 1)


def test_a_trial_changes_only_the_swept_settings_of_the_template():
    template = TrainConfig(loss=DEPO, learning_rate=3e-5, epochs=2)
    params = trial_params({"variant": {"alpha1": 0.0, "alpha2": 3.0, "loss": "depo_penalty"}, "beta": 0.1, "fraction": 0.5})
    train = trial_train_config(params, template)
    assert (train.loss.name, train.loss.alpha1, train.loss.alpha2, train.loss.beta) == ("depo_penalty", 0.0, 3.0, 0.1)
    assert train.data_fraction == 0.5 and (train.learning_rate, train.epochs) == (3e-5, 2)
    assert trial_key(params) == "depo_penalty-a1_0-a2_3-b_0.1-f_0.5"


def test_concurrent_trials_follow_the_cluster():
    job = SweepJob(SweepConfig(), Path("."), TrainConfig(), "bc", (), None, None, {}, trial_cpus=2, trial_gpus=0)
    assert [max_concurrent(job, cpus, 0) for cpus in (2, 3, 8)] == [1, 1, 4]
    gpu_job = replace(job, trial_gpus=1)
    assert max_concurrent(gpu_job, 64, 8) == 8 and max_concurrent(gpu_job, 4, 8) == 2
    assert max_concurrent(replace(job, config=SweepConfig(max_concurrent_trials=3)), 2, 0) == 3


def test_a_trial_that_does_not_fit_the_cluster_is_refused():
    from depo_ray.config import ConfigError
    from depo_ray.tune.sweep import check_fits

    job = SweepJob(SweepConfig(), Path("."), TrainConfig(), "bc", (), None, None, {}, trial_cpus=2, trial_gpus=1)
    check_fits(job, 2, 1)
    with pytest.raises(ConfigError, match="a trial needs 2 CPUs and 1 GPUs at once .* the cluster has 2 and 0"):
        check_fits(job, 2, 0)


def test_a_sweep_folder_is_resumed_only_with_the_settings_and_files_it_was_made_from(tmp_path):
    from depo_ray.config import ConfigError
    from depo_ray.tune.sweep import check_manifest

    made = SweepJob(SweepConfig(), tmp_path, TrainConfig(), "bc", (), None, None, {}, 1, 0, manifest={"sweep": {"seed": 0}, "pi_bc": [["final/model.safetensors", 10, 1]]})
    check_manifest(made)  # a new folder: nothing to compare
    made.manifest_file.write_text(json.dumps(made.manifest))
    check_manifest(made)
    retrained = replace(made, manifest={**made.manifest, "pi_bc": [["final/model.safetensors", 10, 2]]})
    with pytest.raises(ConfigError, match=r"pi_bc: .*--name"):
        check_manifest(retrained)


def test_a_sweep_starts_from_a_pipeline_seed_with_labeled_data_and_pi_bc(tmp_path):
    from depo_ray.config import from_dict
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.outputs import seed_outputs

    outputs = seed_outputs(from_dict(PipelineConfig, {"run_dir": "runs/x", "seeds": [0, 4]}), tmp_path, seed=4)
    assert outputs.missing().endswith("all.parquet is missing; run the pipeline through its label stage first")
    outputs.labeled.parent.mkdir(parents=True)
    outputs.labeled.touch()
    assert "run the pipeline through its bc stage" in outputs.missing() and "seed-4" in outputs.missing()
    outputs.bc_model.mkdir(parents=True)
    (outputs.bc_model / "config.json").touch()
    assert outputs.missing() is None
    assert list(outputs.evaluations) == ["bc", "kto", "depo"] and outputs.studies == tmp_path / "runs" / "x" / "sweeps"


def test_a_sweep_takes_the_pipelines_scores_only_when_made_from_the_same_policy_and_batches(tmp_path):
    from depo_ray.train.run import SCORED_MARKER, adopt_scored, scored_key

    shard, policy = tmp_path / "all.parquet", tmp_path / "bc" / "seed-0" / "final"
    shard.write_text("labeled rows")
    policy.mkdir(parents=True)
    (tmp_path / "pi_bc").symlink_to(policy)  # the sweep names π_BC by a link (pi_bc: bootstrap)
    template = TrainConfig(loss=DEPO, global_batch_size=4)
    pipelines = tmp_path / "bc" / "seed-0" / "scored"
    pipelines.mkdir()
    (pipelines / "part-0.parquet").write_text("scored rows")
    (pipelines / SCORED_MARKER).write_text(json.dumps(scored_key(template, str(policy), [str(shard)])))

    other_batches = tmp_path / "other"
    assert not adopt_scored(replace(template, global_batch_size=8), str(policy), [str(shard)], other_batches, pipelines)
    assert not other_batches.exists()
    assert not adopt_scored(template, str(tmp_path), [str(shard)], other_batches, pipelines)  # another policy
    assert not adopt_scored(template, str(policy), [str(shard)], other_batches, tmp_path / "none")  # nothing scored

    reference = tmp_path / "sweep" / "reference"
    assert adopt_scored(template, str(tmp_path / "pi_bc"), [str(shard)], reference, pipelines)
    assert (reference / "part-0.parquet").read_text() == "scored rows"
    assert json.loads((reference / SCORED_MARKER).read_text()) == scored_key(template, str(tmp_path / "pi_bc"), [str(shard)])
    shard.write_text("labeled rows, rewritten")  # the pipeline's scores no longer match; the copy neither
    assert not adopt_scored(template, str(policy), [str(shard)], reference, pipelines)


@pytest.mark.parametrize("data, key", [({"grid": {"beta": [0]}}, "grid.beta"), ({"fractions": [1.5]}, "fractions"),
                                       ({"study": "pareto"}, "study"), ({"num_samples": 0}, "num_samples"),
                                       ({"num_samples": 2}, "num_samples"), ({"search": "optunaa"}, "search"),
                                       ({"study": "ablation", "search": "optuna"}, "search"), ({"metric": "t_succ"}, "metric")])
def test_a_bad_sweep_config_names_the_key(data, key):
    from depo_ray.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=key):
        from_dict(SweepConfig, data)


def test_dry_run_refuses_a_pipeline_run_without_pi_bc(tmp_path):
    import yaml

    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run")}))
    out = subprocess.run([sys.executable, str(ROOT / "sweeps" / "alpha_grid.py"), "--pipeline", str(pipeline), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "run the pipeline through its label stage" in out.stderr


# --- end to end (finished_run: conftest.py) ------------------------------------------------

def sweep_args(config_file: Path, beta: str = "0.2") -> list[str]:
    return ["--pipeline", str(config_file), "--loss", "depo", "depo_weighted", "--alpha1", "3", "--alpha2", "3",
            "--gamma-token", "1", "--gamma-step", "1", "--beta", beta]


@pytest.mark.ray
@pytest.mark.vllm
def test_a_two_loss_sweep_writes_one_front_and_restores_without_rerunning(finished_run, ray_cluster, capsys):
    config_file, report = finished_run
    folder = report.parent / "sweeps" / "alpha_grid"
    cli = alpha_grid_cli()
    cli.main(sweep_args(config_file))  # in process, on the session's cluster: no Ray start of its own
    first = capsys.readouterr().out
    with open(folder / "results.csv") as rows:
        results = list(csv.DictReader(rows))
    assert sorted(r["trial"] for r in results) == ["depo-a1_3-a2_3-b_0.2-f_1", "depo_weighted-gt_1-gs_1-b_0.2-f_1"]
    assert {r["loss"]: (r["alpha1"], r["gamma_token"]) for r in results} == {"depo": ("3.0", ""), "depo_weighted": ("", "1.0")}
    assert all(0 <= float(r["succ"]) <= 1 and float(r["t_all"]) > 0 and float(r["s_all"]) >= 1 for r in results)
    with open(folder / "pareto.csv") as rows:
        front = [r["trial"] for r in csv.DictReader(rows)]
    assert 1 <= len(front) <= 2 and set(front) <= {r["trial"] for r in results}
    assert (folder / "pareto.png").stat().st_size > 1000 and "Pareto front" in first and "BC:" in first
    assert "the pipeline's" in first  # π_BC's scores taken from the depo stage, not computed again
    with open(folder / "paired.csv") as rows:
        paired = list(csv.DictReader(rows))
    assert sorted((r["trial"], r["against"]) for r in paired) == sorted((t, b) for t in (r["trial"] for r in results)
                                                                        for b in ("bc", "kto"))
    assert all(float(r["t_all_low"]) <= float(r["t_all"]) <= float(r["t_all_high"]) for r in paired)
    attempts = {p.parent.name: p.read_text() for p in (folder / "trials").glob("*/attempts.log")}
    assert len(attempts) == 2 and all(text.count("\n") == 1 for text in attempts.values())

    cli.main(sweep_args(config_file))
    assert "restoring" in capsys.readouterr().out
    assert {p.parent.name: p.read_text() for p in (folder / "trials").glob("*/attempts.log")} == attempts
    with open(folder / "results.csv") as rows:
        assert list(csv.DictReader(rows)) == results

    # Tuner.restore would keep the old trials: refused, in a process of its own before it starts Ray
    # (RAY_ADDRESS=local: were it to start one, a private instance, never a cluster the developer runs)
    started = time.monotonic()
    other_grid = subprocess.run([sys.executable, str(ROOT / "sweeps" / "alpha_grid.py"), *sweep_args(config_file, "0.1")],
                                capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": "local"})
    assert other_grid.returncode != 0 and "sweep.grid.beta" in other_grid.stderr and "--name" in other_grid.stderr
    assert time.monotonic() - started < 60


# --- depo_weighted: its γ_token and γ_step swept like α1 and α2 -------------------------------

WEIGHTED = LossConfig(name="depo_weighted", gamma_token=0.25, gamma_step=0.75, beta=0.2)


def test_a_depo_weighted_grid_sweeps_its_gammas_and_beta():
    points = study_points(SweepConfig(grid=Grid(gamma_token=(0.0, 1.0), gamma_step=(0.5,))), WEIGHTED)
    assert points == {"gamma_token": [0.0, 1.0], "gamma_step": [0.5], "beta": [0.1, 0.2], "loss": ["depo_weighted"],
                      "fraction": [1.0]}
    efficiency = study_points(SweepConfig(study="sample_efficiency"), WEIGHTED)
    assert efficiency["gamma_token"] == [0.25] and efficiency["gamma_step"] == [0.75] and "alpha1" not in efficiency


def test_a_depo_weighted_trial_sets_its_gammas_and_names_its_folder_by_them():
    template = TrainConfig(loss=WEIGHTED)
    params = trial_params({"gamma_token": 0.5, "gamma_step": 1.0, "beta": 0.1, "loss": "depo_weighted", "fraction": 1.0})
    loss = trial_train_config(params, template).loss
    assert (loss.name, loss.gamma_token, loss.gamma_step, loss.beta) == ("depo_weighted", 0.5, 1.0, 0.1)
    assert (loss.alpha1, loss.alpha2) == (WEIGHTED.alpha1, WEIGHTED.alpha2)
    assert trial_key(params) == "depo_weighted-gt_0.5-gs_1-b_0.1-f_1"


@pytest.mark.parametrize("data, key", [({"losses": ["kto"]}, "losses"), ({"losses": ["depo_weighted"], "study": "ablation"}, "losses"),
                                       ({"losses": ["depo", "depo"]}, "losses"),
                                       ({"losses": ["depo", "depo_weighted"], "study": "sample_efficiency"}, "losses"),
                                       ({"losses": ["depo", "depo_weighted"], "search": "optuna"}, "losses"),
                                       ({"grid": {"gamma_step": [-1]}}, "grid.gamma_step")])
def test_a_bad_depo_weighted_sweep_config_names_the_key(data, key):
    from depo_ray.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=key):
        from_dict(SweepConfig, data)


def test_the_command_line_sets_the_loss_and_the_gamma_grid(monkeypatch):
    cli = alpha_grid_cli()
    monkeypatch.setattr(sys, "argv", ["alpha_grid.py", "--loss", "depo_weighted", "--gamma-token", "0", "1",
                                      "--gamma-step", "2", "--beta", "0.2"])
    config = cli.sweep_config(cli.parse_args())
    assert config.losses == ("depo_weighted",) and config.grid.gamma_token == (0.0, 1.0) and config.grid.gamma_step == (2.0,)
    assert cli.listed_trials(study_points(config, WEIGHTED)) == ["depo_weighted-gt_0-gs_2-b_0.2-f_1",
                                                                 "depo_weighted-gt_1-gs_2-b_0.2-f_1"]


def test_an_alpha_grid_of_two_losses_runs_each_over_its_own_settings_on_one_front():
    config = SweepConfig(losses=("depo", "depo_weighted"), grid=Grid(alpha1=(0, 3), alpha2=(3,), gamma_token=(0, 1),
                                                                      gamma_step=(1,), beta=(0.2,)))
    points = study_points(config, DEPO)
    assert points["variant"] == [{"loss": "depo", "alpha1": 0.0, "alpha2": 3.0}, {"loss": "depo", "alpha1": 3.0, "alpha2": 3.0},
                                 {"loss": "depo_weighted", "gamma_token": 0.0, "gamma_step": 1.0},
                                 {"loss": "depo_weighted", "gamma_token": 1.0, "gamma_step": 1.0}]
    cli = alpha_grid_cli()
    assert cli.listed_trials(points) == ["depo-a1_0-a2_3-b_0.2-f_1", "depo-a1_3-a2_3-b_0.2-f_1",
                                         "depo_weighted-gt_0-gs_1-b_0.2-f_1", "depo_weighted-gt_1-gs_1-b_0.2-f_1"]
    weighted = trial_train_config(trial_params({"variant": points["variant"][3], "beta": 0.2, "fraction": 1.0}),
                                  TrainConfig(loss=DEPO)).loss
    assert (weighted.name, weighted.gamma_token, weighted.gamma_step, weighted.alpha1) == ("depo_weighted", 1.0, 1.0, 2.0)


def test_a_point_on_the_plot_is_labelled_by_its_own_loss_settings():
    from depo_ray.tune.report import point_label

    assert point_label({"loss": "depo", "alpha1": 3.0, "alpha2": 0.0, "gamma_token": None, "beta": 0.2}) == "a1 3 a2 0 b 0.2"
    assert point_label({"loss": "depo_weighted", "alpha1": None, "gamma_token": 1.0, "gamma_step": 0.5, "beta": 0.1}) == "gt 1 gs 0.5 b 0.1"


def test_paired_rows_put_each_trial_against_each_baseline_with_intervals():
    from depo_ray.evaluate.metrics import TaskResult
    from depo_ray.tune.report import paired_against

    def results(tokens: int, turns: int) -> list[TaskResult]:
        return [TaskResult(task, task % 2 == 0, 1.0 if task % 2 == 0 else 0.0, turns + task % 3, tokens + 7 * (task % 5), 0,
                           1.0, 1.0) for task in range(60)]

    kto = results(300, 7)
    rows = paired_against({"same": results(300, 7), "shorter": results(240, 7)}, {"kto": kto}, resamples=500)
    by_trial = {r["trial"]: r for r in rows}
    assert by_trial["same"]["t_all"] == 0 and by_trial["same"]["t_all_verdict"] == "within noise"
    assert by_trial["shorter"]["t_all"] == -60 and by_trial["shorter"]["t_all_verdict"] == "better"
    assert by_trial["shorter"]["s_all_verdict"] == "within noise" and all(r["against"] == "kto" for r in rows)


def finished_bc(tmp_path) -> Path:
    """A pipeline config whose run folder has the files a sweep starts from (empty stand-ins)."""
    import yaml

    run = tmp_path / "run"
    (run / "labeled").mkdir(parents=True)
    (run / "labeled" / "all.parquet").write_text("stand-in")
    (run / "bc" / "seed-0" / "final").mkdir(parents=True)
    (run / "bc" / "seed-0" / "final" / "config.json").write_text("{}")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"run_dir": str(run)}))
    return pipeline


def test_the_sweep_loss_replaces_the_pipeline_depo_section_s(tmp_path):
    from depo_ray.tune.sweep import prepare_sweep

    pipeline = str(finished_bc(tmp_path))
    job = prepare_sweep(SweepConfig(pipeline=pipeline, losses=("depo_weighted",)), ROOT)
    assert job.depo.loss.name == "depo_weighted" and job.manifest["sweep"]["losses"] == ["depo_weighted"]
    assert prepare_sweep(SweepConfig(pipeline=pipeline), ROOT).depo.loss.name == "depo"


def test_a_sweep_folder_made_from_another_grid_is_refused_before_ray_starts(tmp_path, monkeypatch):
    from depo_ray.tune.sweep import prepare_sweep

    pipeline = str(finished_bc(tmp_path))
    job = prepare_sweep(SweepConfig(pipeline=pipeline, grid=Grid(beta=(0.2,))), ROOT)
    job.folder.mkdir(parents=True)
    job.manifest_file.write_text(json.dumps(job.manifest))
    monkeypatch.setattr("depo_ray.cluster.connect", lambda *args, **kwargs: pytest.fail("the refused sweep connected"))
    with pytest.raises(SystemExit, match=r"sweep\.grid\.beta: \[0\.2\] -> \[0\.1\].*--name"):
        alpha_grid_cli().main(["--pipeline", pipeline, "--beta", "0.1"])


def test_a_sweep_folder_made_before_the_gamma_settings_existed_still_resumes(tmp_path):
    from depo_ray.config import ConfigError
    from depo_ray.tune.sweep import prepare_sweep

    config = SweepConfig(pipeline=str(finished_bc(tmp_path)))
    job = prepare_sweep(config, ROOT)
    older = json.loads(json.dumps(job.manifest))
    del older["sweep"]["losses"], older["sweep"]["grid"]["gamma_token"], older["sweep"]["grid"]["gamma_step"]
    del older["depo"]["loss"]["gamma_token"], older["depo"]["loss"]["gamma_step"]
    job.folder.mkdir(parents=True)
    job.manifest_file.write_text(json.dumps(older))
    prepare_sweep(config, ROOT)  # the new settings are at their defaults: the same sweep
    with pytest.raises(ConfigError, match=r"sweep.grid.gamma_token: None -> \[1.0\]"):
        prepare_sweep(replace(config, grid=Grid(gamma_token=(1.0,))), ROOT)
