"""Configs fail at load, naming the key."""

import pytest

from depo_ray.config import ConfigError, from_dict, load_yaml
from depo_ray.train.config import TrainConfig

BASE = {"learning_rate": 1e-4}


def test_nested_config_loads_with_defaults():
    config = from_dict(TrainConfig, {**BASE, "loss": {"name": "kto", "beta": 0.1}, "lora": None, "epochs": 2})
    assert config.loss.name == "kto" and config.loss.beta == 0.1 and config.loss.alpha1 == 3.0
    assert config.lora is None and config.epochs == 2


def test_lora_target_modules_become_a_tuple():
    config = from_dict(TrainConfig, {**BASE, "lora": {"r": 4, "target_modules": ["q_proj"]}})
    assert config.lora.target_modules == ("q_proj",) and config.lora.r == 4


@pytest.mark.parametrize(
    "data, message",
    [
        ({**BASE, "epochz": 3}, r"epochz: unknown key"),
        ({**BASE, "loss": {"alpha3": 1}}, r"loss\.alpha3: unknown key"),
        ({**BASE, "epochs": "three"}, r"epochs: expected int, got 'three'"),
        ({**BASE, "use_gpu": 1}, r"use_gpu: expected bool"),
        ({**BASE, "loss": {"name": "dpo"}}, r"loss\.name: unknown loss 'dpo'"),
        ({**BASE, "global_batch_size": 6, "num_workers": 4}, r"must be a multiple of num_workers"),
        ({**BASE, "global_batch_size": 2, "num_workers": 2}, r"local batch of at least 2"),
    ],
)
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, data)


def test_a_training_job_needs_its_data_model_and_output_folder():
    from depo_ray.config import require
    from depo_ray.train.cli import StageConfig

    with pytest.raises(ConfigError, match=r"data: required key is missing"):
        from_dict(StageConfig, {"model": "m", "output_dir": "o", "train": {}})
    with pytest.raises(ConfigError, match=r"output_dir: required key is missing"):
        from_dict(StageConfig, {"data": ["d"], "model": "m", "train": {}})
    stage = from_dict(StageConfig, {"data": ["d"], "model": "m", "output_dir": "", "train": {}})
    with pytest.raises(ConfigError, match=r"output_dir: required when this stage runs on its own"):
        require(stage, "model", "output_dir")
    with pytest.raises(ConfigError, match=r"train\.model: unknown key"):  # the settings hold no paths
        from_dict(StageConfig, {"data": ["d"], "model": "m", "output_dir": "o", "train": {"model": "m"}})


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 2\nlearning_rate: fast\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: learning_rate: expected float"):
        load_yaml(TrainConfig, path)


def test_job_paths_are_taken_from_the_project_root(tmp_path):
    from depo_ray.train.cli import StageConfig, resolve_paths

    (tmp_path / "runs" / "policy").mkdir(parents=True)
    local = from_dict(StageConfig, {"data": ["runs/bc", "/abs/shards"], "model": "runs/policy", "output_dir": "runs/out",
                                    "train": {}})
    resolved = resolve_paths(local, tmp_path)
    assert resolved.data == (str(tmp_path / "runs" / "bc"), "/abs/shards")
    assert resolved.model == str(tmp_path / "runs" / "policy")
    assert resolved.output_dir == str(tmp_path / "runs" / "out")
    hub = from_dict(StageConfig, {"data": ["d"], "model": "Qwen/Qwen2.5-7B-Instruct", "output_dir": "o", "train": {}})
    assert resolve_paths(hub, tmp_path).model == "Qwen/Qwen2.5-7B-Instruct"


def test_command_line_overrides_reach_into_sections_and_are_checked(tmp_path):
    from depo_ray.config import parse_overrides

    path = tmp_path / "train.yaml"
    path.write_text("epochs: 1\nloss: {name: depo, beta: 0.2}\n")
    overrides = parse_overrides(["epochs=3", "loss.alpha1=0.5", "lora=null"])
    config = load_yaml(TrainConfig, path, overrides)
    assert (config.epochs, config.loss.alpha1, config.loss.beta, config.lora) == (3, 0.5, 0.2, None)
    with pytest.raises(ConfigError, match=r"train\.yaml: loss\.alpha3: unknown key"):
        load_yaml(TrainConfig, path, parse_overrides(["loss.alpha3=1"]))
    with pytest.raises(ConfigError, match=r"train\.yaml: epochs\.name: epochs is not a section"):
        load_yaml(TrainConfig, path, parse_overrides(["epochs.name=x"]))
    path.write_text("epochs: 1\nlora: null\n")
    assert load_yaml(TrainConfig, path, parse_overrides(["lora.r=4"])).lora.r == 4  # a null section can be set
    path.write_text("- model\n")
    with pytest.raises(ConfigError, match=r"expected a mapping of keys at the top, found list"):
        load_yaml(TrainConfig, path, parse_overrides(["epochs=3"]))
    with pytest.raises(ConfigError, match=r"expected KEY=VALUE"):
        parse_overrides(["epochs"])


def test_loading_every_pipeline_config_imports_no_training_or_serving_runtime():
    """Configs live in light modules: checking a config (a dry run, a sweep's refusal) must not
    wait on torch, transformers, Ray or vLLM, nor need them installed."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = (
        "import sys, pathlib\n"
        "from depo_ray.config import load_yaml\n"
        "from depo_ray.pipeline.config import PipelineConfig\n"
        f"for path in sorted(pathlib.Path({str(root / 'configs')!r}).glob('*_pipeline.yaml')):\n"
        "    load_yaml(PipelineConfig, path)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'ray', 'vllm') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
