from pathlib import Path

import pytest
import yaml

from depo_ray.config import load_yaml
from depo_ray.models import load_tokenizer
from depo_ray.models.tiny import TinyModelConfig, build_tiny_policy
from depo_ray.pipeline.config import PipelineConfig
from environments.babyai.vocabulary import vocabulary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A freshly built tiny policy folder (2 small layers keep tests fast)."""
    config = TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256, max_position_embeddings=4096)
    return build_tiny_policy(vocabulary(), tmp_path_factory.mktemp("tiny") / "policy", config)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


EASY = [level + 40 * seed for seed in range(8) for level in range(4)]  # the red-ball / GoToObj levels, seeds 0-7
SMALL_TRAIN = {"lora": None, "learning_rate": 1e-3, "epochs": 1, "global_batch_size": 4, "micro_batch_size": 4,
               "num_workers": 2, "checkpoint_every": 100}
SERVING = {"replicas": 1, "cpus_per_replica": 1, "request_timeout_s": 120,
           "engine": {"max_model_len": 4096, "dtype": "float32"}}


def small_pipeline(run_dir: Path) -> dict:
    return {
        "run_dir": str(run_dir),
        "env": {"name": "babyai", "options": {"max_turns": 6}},
        "bootstrap": {"task_ids": EASY, "check_tasks": [0, 1], "min_valid_rate": 0.0, "max_rounds": 1,
                      "expert": {"detour_share": 0.3},
                      "train": {**SMALL_TRAIN, "loss": {"name": "sft"}, "learning_rate": 3e-3, "epochs": 6}},
        "generate": {"task_ids": [0, 2, 40, 42], "workers": 2, "cpus_per_worker": 0.25, "serving": SERVING,
                     "search": {"simulations": 2, "children": 2, "max_depth": 6, "temperature": 0.5, "max_new_tokens": 48}},
        "label": {"expert_demos": "all"},
        "bc": {**SMALL_TRAIN, "loss": {"name": "sft"}},
        "kto": {**SMALL_TRAIN, "loss": {"name": "kto"}},
        "depo": {**SMALL_TRAIN, "loss": {"name": "depo", "alpha1": 3.0, "alpha2": 3.0}},
        "evaluate": {"task_ids": [321, 323, 361, 363], "workers": 2, "cpus_per_worker": 0.25, "serving": SERVING,
                     "max_new_tokens": 48},
        "math": {"benchmark": "generated", "generated_count": 3, "max_new_tokens": 16, "workers": 1,
                 "cpus_per_worker": 0.25, "serving": SERVING},
    }


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The small pipeline, run to the end in process on a private local Ray (the pipeline
    tests resume it; the sweep tests start from its π_BC and evaluations)."""
    import ray

    from depo_ray.cluster import connect
    from depo_ray.pipeline.runner import run_pipeline

    folder = tmp_path_factory.mktemp("pipeline")
    config_file = folder / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(small_pipeline(folder / "run")))
    connect(num_cpus=2, fresh=True)
    try:
        report = run_pipeline(load_yaml(PipelineConfig, config_file), ROOT, progress=False)
    finally:
        ray.shutdown()
    return config_file, report
