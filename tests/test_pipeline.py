"""The pipeline job without a cluster: config checks, the plan, resuming and stale stages
(the end-to-end runs are in test_pipeline_end_to_end.py)."""

import json
import subprocess
from dataclasses import asdict
import sys
from pathlib import Path

import pytest
import yaml

from depo_ray.config import ConfigError, from_dict, load_yaml
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.plan import resource_problems, stage_needs
from depo_ray.pipeline.runner import run_problems, settings_change, stage_settings, stale_stages, to_run
from depo_ray.pipeline.stage import RunFolder
from depo_ray.pipeline.recipe import STAGES
from depo_ray.settings import first_difference

STAGE = {s.name: s for s in STAGES}


def names(stages) -> list[str]:
    return [s.name for s in stages]

ROOT = Path(__file__).resolve().parents[1]


def test_the_cpu_default_config_loads_and_fits_two_cores():
    config = load_yaml(PipelineConfig, ROOT / "configs" / "cpu_pipeline.yaml")
    assert config.policy is None and names(to_run(config, None))[0] == "bootstrap"
    assert resource_problems(stage_needs(config), cpus=2, gpus=0) == []


@pytest.mark.parametrize("name", ["qwen2.5_7b_pipeline.yaml", "llama3.1_8b_pipeline.yaml"])
def test_the_real_model_configs_load_and_skip_the_bootstrap(name):
    config = load_yaml(PipelineConfig, ROOT / "configs" / name)
    assert config.policy and "bootstrap" not in names(to_run(config, None))
    assert config.bc.lora is not None and config.depo.loss.beta == 0.2
    problems = resource_problems(stage_needs(config), cpus=2, gpus=0)
    assert any("GPUs" in p for p in problems)  # they want GPUs this machine does not have


@pytest.mark.parametrize("data, key", [
    ({"bc": {"epochs": 1, "learnin_rate": 1e-3}}, "bc.learnin_rate"),
    ({"depo": {"loss": {"name": "sft"}}}, "depo.loss.name"),
    ({"kto": {"model": "some/model"}}, "kto.model"),
    ({"generate": {"env": {"name": "babyai", "options": {"max_turns": 3}}}}, "generate.env"),
    ({"evaluate": {"workers": "four"}}, "evaluate.workers"),
    ({"env": {"name": "babyai", "options": {"max_turn": 3}}}, "env.options.max_turn"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"depo": {"loss": {"name": "depo"}, "seed": 3}}, "depo.seed"),
])
def test_a_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(PipelineConfig, data)


def test_impossible_resources_are_named_per_stage():
    config = from_dict(PipelineConfig, {"bc": {"loss": {"name": "sft"}, "num_workers": 4, "global_batch_size": 8},
                                        "evaluate": {"serving": {"replicas": 1, "gpus_per_replica": 1}}})
    problems = resource_problems(stage_needs(config), cpus=2, gpus=0)
    assert any(p.startswith("bc: needs 4 CPUs") for p in problems)
    assert any(p.startswith("evaluate: needs 1 GPUs") for p in problems)


def test_first_difference_names_the_changed_key():
    assert first_difference({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == "a.c: 2 -> 3"
    assert first_difference({"a": 1}, {"a": 1}) is None


def test_a_setting_added_to_the_code_after_a_stage_ran_is_a_change_only_off_its_default():
    stored = {"bc": {"epochs": 2}}
    assert first_difference(stored, {"bc": {"epochs": 2, "data_fraction": 1.0}}, defaults={"bc": {"data_fraction": 1.0}}) is None
    assert first_difference(stored, {"bc": {"epochs": 2, "data_fraction": 0.5}}, defaults={"bc": {"data_fraction": 1.0}}) \
        == "bc.data_fraction: None -> 0.5"
    assert first_difference(stored, {"bc": {"epochs": 2, "data_fraction": 1.0}}) == "bc.data_fraction: None -> 1.0"


def test_a_marker_from_when_sections_held_the_pipelines_paths_still_counts_as_done(tmp_path):
    """Sections once carried policy, output_dir, env, ... for the pipeline to fill in, stored
    empty in every marker; today's sections lack them. Such a marker stays current, while one
    that held another value for them does not."""
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    empty = {"generate": {"policy": "", "output_dir": "", "env": {"name": "babyai", "options": {}}},
             "bootstrap": {"run_dir": "", "policy": None, "env": None, "max_new_tokens": None},
             "kto": {"model": "", "output_dir": ""}, "evaluate": {"policy": "", "output_dir": "", "env": {"name": "babyai", "options": {}}}}
    for name, retired in empty.items():
        stored = stage_settings(STAGE[name], config)
        stored[name].update(retired)
        assert settings_change(stored, STAGE[name], config) is None, name
    stored = stage_settings(STAGE["generate"], config)
    stored["generate"]["policy"] = "runs/elsewhere"
    assert settings_change(stored, STAGE["generate"], config) == "generate.policy: 'runs/elsewhere' -> None"
    # the run's saved config.yaml of that time loads as today's config
    saved = json.loads(json.dumps(asdict(config)))
    for name, retired in empty.items():
        saved[name].update(retired)
    assert from_dict(PipelineConfig, saved) == config
    with pytest.raises(ConfigError, match="generate.policy: unknown key"):
        from_dict(PipelineConfig, {"generate": {"policy": "runs/elsewhere"}})


def test_a_marker_from_before_a_new_nested_setting_still_counts_as_done(tmp_path):
    """bootstrap.train is None by default: its defaults come from the config as set."""
    data = {"run_dir": str(tmp_path), "bootstrap": {"train": {"loss": {"name": "sft"}, "epochs": 4}}}
    config, run = from_dict(PipelineConfig, data), RunFolder(tmp_path)
    stored = stage_settings(STAGE["bootstrap"], config)
    del stored["bootstrap"]["train"]["data_fraction"]  # as written before the field existed
    run.finish("bootstrap", stored, 1.0)
    assert stale_stages(config, run, set()) == []
    data["bootstrap"]["train"]["data_fraction"] = 0.5
    (problem,) = stale_stages(from_dict(PipelineConfig, data), run, set())
    assert "bootstrap.train.data_fraction: None -> 0.5" in problem


def test_direct_twins_make_the_demos_and_the_bootstrap_stale_only_when_turned_on(tmp_path):
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    twins = from_dict(PipelineConfig, {"run_dir": str(tmp_path), "bootstrap": {"direct_twins": True}})
    for name in ("demos", "bootstrap"):
        stored = stage_settings(STAGE[name], config)
        stored.get("bootstrap", stored).pop("direct_twins")  # as written before the setting existed
        assert settings_change(stored, STAGE[name], config) is None
        assert "direct_twins: None -> True" in settings_change(stored, STAGE[name], twins)


def test_a_changed_completed_stage_stops_the_run_and_from_forces_it(tmp_path):
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    run = RunFolder(tmp_path)
    run.finish("bc", stage_settings(STAGE["bc"], config), 1.0)
    assert stale_stages(config, run, set()) == []
    changed = from_dict(PipelineConfig, {"run_dir": str(tmp_path), "bc": {"loss": {"name": "sft"}, "epochs": 5}})
    (problem,) = stale_stages(changed, run, set())
    assert problem.startswith("bc: settings changed") and "epochs: 3 -> 5" in problem
    # --from may not skip the stages before bc that never ran
    assert run_problems(changed, run, None) == [problem, "re-run with --from bootstrap (it redoes bootstrap and every later stage)"]
    assert stale_stages(changed, run, set(names(to_run(changed, "bc")))) == []
    assert names(to_run(changed, "depo")) == ["depo", "evaluate", "report"]
    with pytest.raises(ConfigError, match="--from"):
        to_run(from_dict(PipelineConfig, {"policy": "Qwen/Qwen2.5-7B-Instruct"}), "bootstrap")


def test_every_stage_of_the_cpu_default_reads_back_unchanged_and_scheduling_is_not_a_change(tmp_path):
    config = load_yaml(PipelineConfig, ROOT / "configs" / "cpu_pipeline.yaml")
    run = RunFolder(tmp_path)
    for stage in to_run(config, None):
        run.finish(stage.name, stage_settings(stage, config), 1.0)
    assert stale_stages(config, run, set()) == []
    data = yaml.safe_load((ROOT / "configs" / "cpu_pipeline.yaml").read_text())
    data["generate"]["workers"], data["bc"]["checkpoint_every"] = 1, 7  # another cluster, same results
    data["evaluate"]["serving"]["replicas"] = 2
    data["generate"]["trees_per_worker"], data["evaluate"]["episodes_per_worker"] = 2, 1
    data["generate"]["max_worker_restarts"] = 0
    assert stale_stages(from_dict(PipelineConfig, data), run, set()) == []
    data["label"]["thresholds"]["kappa0"] = 0.8
    (problem,) = stale_stages(from_dict(PipelineConfig, data), run, set())
    assert problem.startswith("label:") and "kappa0: 0.9 -> 0.8" in problem


def test_an_optional_method_trains_and_is_evaluated_only_with_its_section(tmp_path):
    """depo_weighted is one METHODS entry: with its section it gets a train stage after DEPO,
    and a finished evaluation without it becomes stale; without it nothing changes."""
    data = yaml.safe_load((ROOT / "configs" / "cpu_pipeline.yaml").read_text())
    config = from_dict(PipelineConfig, data)
    run = RunFolder(tmp_path)
    for stage in to_run(config, None):
        run.finish(stage.name, stage_settings(stage, config), 1.0)
    assert "depo_weighted" not in [s.name for s in to_run(config, None)]
    data["depo_weighted"] = {**data["depo"], "loss": {"name": "depo_weighted", "beta": 0.2, "gamma_token": 1.0}}
    weighted = from_dict(PipelineConfig, data)
    names = [s.name for s in to_run(weighted, None)]
    assert names.index("depo_weighted") == names.index("depo") + 1 and [m.name for m in weighted.methods()][-1] == "depo_weighted"
    assert "depo_weighted" in stage_needs(weighted)["evaluate"].work
    (problem,) = stale_stages(weighted, run, set())
    assert problem.startswith("evaluate:") and "optional_methods" in problem
    # the refusal names the one option that works, with or without a --from of the user's
    advice = "re-run with --from depo_weighted (it redoes depo_weighted and every later stage)"
    assert run_problems(weighted, run, None)[-1] == advice and run_problems(weighted, run, "evaluate")[-1] == advice
    start = advice.split()[3]
    assert run_problems(weighted, run, start) == []
    assert [s.name for s in to_run(weighted, start)] == ["depo_weighted", "evaluate", "report"]
    data["depo_weighted"]["loss"]["name"] = "depo"
    with pytest.raises(ConfigError, match="depo_weighted.loss.name"):
        from_dict(PipelineConfig, data)


def test_the_large_test_set_is_never_searched_and_shows_in_the_plan():
    from depo_ray.env_setup import make_env, select_tasks

    data = yaml.safe_load((ROOT / "configs" / "cpu_pipeline.yaml").read_text())
    data["evaluate"]["task_set"] = "large"
    data["generate"]["task_ids"] = [0, 40000, 40040]  # the last two are in the large set
    config = from_dict(PipelineConfig, data)
    assert "task set 'large'" in stage_needs(config)["evaluate"].work
    held_out = make_env(config.env).held_out
    assert select_tasks(config.generate.tasks, config.generate.task_ids, held_out) == [0]


def test_from_refuses_to_build_on_stages_that_never_completed(tmp_path):
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    run = RunFolder(tmp_path)
    for stage in ("bootstrap", "generate", "label"):
        run.finish(stage, stage_settings(STAGE[stage], config), 1.0)
    assert run_problems(config, run, "bc") == []
    assert run_problems(config, run, "depo") == ["--from depo: bc, kto before it never completed", "run without --from first"]


def test_a_stage_is_one_entry_of_the_list_the_machinery_runs(tmp_path, capsys):
    """A pure-Python stage added to a stage list runs, gets its marker, is skipped on re-run,
    stops a run when its settings change, re-runs with --from and shows in the plan."""
    from depo_ray.pipeline.plan import plan_run
    from depo_ray.pipeline.runner import run_pipeline
    from depo_ray.pipeline.stage import Stage, StageNeeds

    counted = []

    def count_tasks(config, run, root, progress):
        counted.append(config.generate.tasks)
        (run / "tasks.txt").write_text(f"{config.generate.tasks}\n")
        return {"tasks": config.generate.tasks[1] - config.generate.tasks[0]}

    def summarize(config, run, root, progress):
        (run / "summary.txt").write_text((run / "tasks.txt").read_text())
        return {}

    toy = Stage("tasks", ("tasks.txt",), lambda config, as_data: {"tasks": config.generate.tasks},
                lambda config: StageNeeds("count the searched tasks", "none (driver)", 0, 0), count_tasks)
    always = Stage("summary", ("summary.txt",), lambda config, as_data: {},
                   lambda config: StageNeeds("summary.txt", "none (driver)", 0, 0), summarize, always_runs=True)
    stages = (toy, always)
    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path / "run"), "generate": {"tasks": [0, 40]}})
    assert run_pipeline(config, ROOT, progress=False, stages=stages) == tmp_path / "run" / "summary.txt"
    run = RunFolder(tmp_path / "run")
    marker = run.read_marker("tasks")
    assert counted == [(0, 40)] and marker["tasks"] == 40 and marker["settings"] == {"tasks": [0, 40]}
    assert not run.started("tasks").exists() and run.read_marker("summary") is not None

    run_pipeline(config, ROOT, progress=False, stages=stages)
    assert counted == [(0, 40)] and "[tasks] done earlier" in capsys.readouterr().out

    changed = from_dict(PipelineConfig, {"run_dir": str(tmp_path / "run"), "generate": {"tasks": [0, 20]}})
    stale = r"^tasks: settings changed since it ran \(tasks: \[0, 40\] -> \[0, 20\]\)\nre-run with --from tasks \("
    with pytest.raises(ConfigError, match=stale):
        run_pipeline(changed, ROOT, progress=False, stages=stages)
    run_pipeline(changed, ROOT, from_stage="tasks", progress=False, stages=stages)
    assert counted == [(0, 40), (0, 20)] and (run / "summary.txt").read_text() == "(0, 20)\n"

    with_toy = (*STAGES[:-1], toy, STAGES[-1])
    plan = plan_run(changed, ROOT, None, with_toy)
    assert plan.problems == [] and plan.status["tasks"] == "done" and "tasks" not in plan.pending() and "report" in plan.pending()
    table = plan.table().splitlines()
    assert [row.split()[0] for row in table[2:]][-3:] == ["evaluate", "tasks", "report"]
    assert any(row.split()[:2] == ["tasks", "done"] and "count the searched tasks" in row for row in table)
    assert names(to_run(changed, "tasks", with_toy)) == ["tasks", "report"]


def test_more_seeds_run_only_the_new_seeds_of_a_finished_stage(tmp_path, capsys):
    from depo_ray.pipeline.plan import plan_run
    from depo_ray.pipeline.runner import run_pipeline
    from depo_ray.pipeline.stage import Stage, StageNeeds

    trained = []

    def train(config, run, root, progress):
        new = [seed for seed in config.seeds if not (run / f"seed-{seed}").exists()]
        for seed in new:
            (run / f"seed-{seed}").mkdir(parents=True)
            trained.append(seed)
        return {"metrics": {f"seed-{seed}": seed * 10 for seed in new}}

    per_seed = Stage("train", ("seed-*",), lambda config, as_data: {"lr": config.bc.learning_rate, "seeds": config.seeds},
                     lambda config: StageNeeds("train once per seed", "none (driver)", 0, 0), train)
    config = {"run_dir": str(tmp_path / "run")}
    run_pipeline(from_dict(PipelineConfig, {**config, "seeds": [0]}), ROOT, progress=False, stages=(per_seed,))
    more = from_dict(PipelineConfig, {**config, "seeds": [0, 1, 2]})
    assert plan_run(more, ROOT, None, (per_seed,)).status == {"train": "todo"}
    run_pipeline(more, ROOT, progress=False, stages=(per_seed,))
    marker = RunFolder(tmp_path / "run").read_marker("train")
    assert trained == [0, 1, 2] and "for the added seeds" in capsys.readouterr().out
    assert marker["settings"]["seeds"] == [0, 1, 2] and marker["metrics"] == {"seed-0": 0, "seed-1": 10, "seed-2": 20}
    run_pipeline(more, ROOT, progress=False, stages=(per_seed,))
    assert trained == [0, 1, 2] and "[train] done earlier" in capsys.readouterr().out
    for changed in ({"seeds": [0, 1]}, {"seeds": [0, 1, 2, 3], "bc": {"learning_rate": 0.5, "loss": {"name": "sft"}}}):  # fewer, or more and another change
        with pytest.raises(ConfigError, match="train: settings changed since it ran"):
            run_pipeline(from_dict(PipelineConfig, {**config, **changed}), ROOT, progress=False, stages=(per_seed,))


def test_evaluation_tasks_must_not_be_training_tasks():
    with pytest.raises(ConfigError, match=r"evaluate\.task_ids: tasks \[5\] are also searched"):
        from_dict(PipelineConfig, {"generate": {"tasks": [0, 10]}, "bootstrap": {"tasks": [100, 200]},
                                   "evaluate": {"task_ids": [5, 50]}})
    with pytest.raises(ConfigError, match=r"tasks \[120\]"):
        from_dict(PipelineConfig, {"bootstrap": {"tasks": [100, 200]}, "evaluate": {"task_ids": [120]}})


def test_dry_run_prints_the_plan_and_loads_nothing(tmp_path):
    import os

    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run")}))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # no cluster named: this machine's plan
    out = subprocess.run([sys.executable, str(ROOT / "jobs" / "pipeline.py"), "--config", str(config), "--dry-run"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    for stage in ("bootstrap", "generate", "label", "bc", "kto", "depo", "evaluate", "report"):
        assert f"\n{stage} " in out.stdout
    assert "this machine:" in out.stdout and not (tmp_path / "run").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"depo": {"loss": {"name": "depo", "beta": -1}}}))
    out = subprocess.run([sys.executable, str(ROOT / "jobs" / "pipeline.py"), "--config", str(bad), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "beta must be positive" in out.stderr


@pytest.mark.parametrize("name", ["cpu_pipeline.yaml", "cpu_webshop_pipeline.yaml", "qwen2.5_7b_pipeline.yaml"])
def test_the_run_keeps_its_config_as_run_and_it_loads_back_the_same(name, tmp_path):
    from depo_ray.config import parse_overrides
    from depo_ray.pipeline.runner import save_config

    config = load_yaml(PipelineConfig, ROOT / "configs" / name, parse_overrides(["seeds=[3,4]", "depo.loss.beta=0.3"]))
    saved = save_config(config, RunFolder(tmp_path / "run"))
    assert saved == tmp_path / "run" / "config.yaml"
    assert load_yaml(PipelineConfig, saved) == config and config.seeds == (3, 4) and config.depo.loss.beta == 0.3


def test_math_is_solved_by_the_evaluate_stage_only_when_configured(tmp_path):
    """Math runs on the evaluation engines, so adding it makes a finished evaluation stale
    and a run without it reads back unchanged."""
    plain = from_dict(PipelineConfig, {"run_dir": str(tmp_path)})
    assert "math" not in stage_needs(plain)["evaluate"].work
    run = RunFolder(tmp_path)
    run.finish("evaluate", stage_settings(STAGE["evaluate"], plain), 1.0)
    with_math = from_dict(PipelineConfig, {"run_dir": str(tmp_path), "math": {"benchmark": "gsm8k", "limit": 200}})
    assert names(to_run(with_math, "evaluate")) == ["evaluate", "report"]
    assert "then on math gsm8k (first 200)" in stage_needs(with_math)["evaluate"].work
    (problem,) = stale_stages(with_math, run, set())
    assert problem.startswith("evaluate:") and "math" in problem
    assert stale_stages(plain, run, set()) == []
    for data, key in (({"policy": "some/model"}, "math.policy"), ({"serving": {"replicas": 2}}, "math.serving")):
        with pytest.raises(ConfigError, match=key):
            from_dict(PipelineConfig, {"math": data})


def test_a_resumed_evaluation_starts_an_engine_only_for_a_policy_with_work_left(tmp_path, monkeypatch):
    from depo_ray.serving import router

    config = from_dict(PipelineConfig, {"run_dir": str(tmp_path), "math": {"benchmark": "generated", "generated_count": 3}})
    run = RunFolder(tmp_path)
    for method in config.methods():
        for folder in (run.evaluation(method.name, 0), run.math(method.name, 0)):
            folder.mkdir(parents=True)
            (folder / "summary.json").write_text(json.dumps({"read_back": str(folder)}))

    def no_engine(model, *args, **kwargs):
        raise AssertionError(f"an engine was started for {model}")

    monkeypatch.setattr(router, "start_router", no_engine)
    facts = STAGE["evaluate"].run(config, run, ROOT, False)
    assert facts["summaries"]["kto/seed-0"] == {"read_back": str(run.evaluation("kto", 0))}
    assert facts["math"]["depo/seed-0"] == {"read_back": str(run.math("depo", 0))}
    (run.math("depo", 0) / "summary.json").unlink()
    with pytest.raises(AssertionError, match=r"an engine was started for .*depo"):
        STAGE["evaluate"].run(config, run, ROOT, False)


def test_the_webshop_config_needs_the_real_data_and_otherwise_loads(tmp_path):
    import yaml

    from depo_ray.config import from_dict
    from depo_ray.env_setup import make_env, paths_under
    from environments.webshop.generate import generate_catalog

    relative = load_yaml(PipelineConfig, ROOT / "configs" / "qwen2.5_7b_webshop_pipeline.yaml")
    with pytest.raises(ValueError, match=r"data_dir: .*data/webshop lacks"):  # not on this machine
        paths_under(relative.env, ROOT)  # as the job checks it, from the project root, before any work
    data = yaml.safe_load((ROOT / "configs" / "qwen2.5_7b_webshop_pipeline.yaml").read_text())
    generate_catalog(tmp_path / "webshop", num_products=20)
    data["env"]["options"]["shop"]["data_dir"] = str(tmp_path / "webshop")
    config = from_dict(PipelineConfig, data)
    assert config.env.name == "webshop" and "bootstrap" not in names(to_run(config, None))
    assert config.label.thresholds.kappa0 == 1.0 and config.label.thresholds.step_cutoff == 7
    assert make_env(config.env).test_tasks == tuple(range(500))  # built without loading the catalog
    assert any("GPUs" in p for p in resource_problems(stage_needs(config), cpus=2, gpus=0))
