"""Expert demonstrations as trajectory records, and the CPU default's bootstrap stage.

There is no pretrained policy offline, so the tiny model first learns from the BabyAI bot's
demonstrations (behaviour cloning with the same training code as everything else). Until
search-generated data exists, the same demonstrations, labeled, are also what BC and DEPO
train on. ``bootstrap_policy`` is that warm start as a resumable stage; with a pretrained
policy (a Hugging Face id) the stage is not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from depo_ray.models.tiny import TinyModelConfig

from depo_ray.records import TrajectoryRecord, record_from_episode
from depo_ray.train.config import TrainConfig
from environments.babyai import BabyAIConfig, BabyAITextEnv
from environments.babyai.expert import BabyAIExpert, ExpertConfig, ExpertFailure


def expert_records(task_ids: Iterable[int], tokenizer, env_config: BabyAIConfig, expert_config: ExpertConfig,
                   split: str = "train", seed: int = 0, progress: bool = True) -> list[TrajectoryRecord]:
    """One record per task the expert could play (bot failures are skipped)."""
    env = BabyAITextEnv(env_config)
    expert = BabyAIExpert(env, expert_config, seed=seed)
    records = []
    for task_id in tqdm(list(task_ids), desc="expert demonstrations", disable=not progress):
        try:
            demo = expert.demonstrate(task_id)
        except ExpertFailure:
            continue
        info = demo.episode.final_info
        records.append(record_from_episode(
            demo.episode, tokenizer, task_id=str(task_id), env="babyai", split=split, seed=info["seed"],
            source="expert", policy="expert",
            provenance={"level": info["level"], "verbosity": demo.verbosity, "detours": demo.detours,
                        "primitive_steps": info["step_count"], "action_mode": env_config.action_mode},
        ))
    return records


@dataclass(frozen=True)
class BootstrapConfig:
    run_dir: str
    """Where the bootstrap writes policy/, demos/ (labeled), bc/ (D_BC) and bc_model/."""
    task_ids: tuple[int, ...] = tuple(range(0, 160))
    """BabyAI tasks the expert demonstrates (the harness test tasks are left out)."""
    env: BabyAIConfig = field(default_factory=BabyAIConfig)
    """Environment settings of the demonstrations (use the generation stage's)."""
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    """Verbosity and detours of the expert's Thoughts."""
    model: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256))
    """Size of the tiny policy (2 small layers train in minutes on 2 cores)."""
    train: TrainConfig | None = None
    """The BC stage (model and output_dir are filled in); None: lr 3e-3, 8 epochs, batch 8."""


def bootstrap_policy(config: BootstrapConfig, progress: bool = True) -> Path:
    """Tiny policy -> expert demonstrations -> BC with ``run_bc``; each step is skipped when
    its artifact exists. Returns the π_BC folder the search then serves."""
    from dataclasses import replace

    from depo_ray.labeling import LabelConfig, label_records, select_bc
    from depo_ray.losses import LossConfig
    from depo_ray.models import load_tokenizer
    from depo_ray.models.tiny import build_tiny_policy
    from depo_ray.records import write_shard
    from depo_ray.train.run import FINAL, run_bc
    from environments.babyai import HARNESS_TEST_TASKS
    from environments.babyai.vocabulary import vocabulary

    run = Path(config.run_dir)
    policy, bc_shard, output = run / "policy", run / "bc" / "expert.parquet", run / "bc_model"
    if (output / FINAL / "config.json").exists():
        return output / FINAL
    if not (policy / "config.json").exists():
        build_tiny_policy(vocabulary(), policy, config.model)
    if not bc_shard.exists():
        tasks = [t for t in config.task_ids if t not in HARNESS_TEST_TASKS]
        labeled = label_records(expert_records(tasks, load_tokenizer(str(policy)), config.env, config.expert, progress=progress),
                                LabelConfig())
        write_shard(labeled, run / "demos" / "expert.parquet")
        write_shard(select_bc(labeled, LabelConfig()), bc_shard)
    train = config.train or TrainConfig(model="", output_dir="", loss=LossConfig(name="sft"), lora=None, learning_rate=3e-3,
                                        epochs=8, global_batch_size=8, micro_batch_size=4, checkpoint_every=50)
    _, final = run_bc(replace(train, model=str(policy), output_dir=str(output)), [str(bc_shard)])
    return Path(final)
