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
    run_dir: str = ""
    """(The pipeline fills it in.) Where the bootstrap writes policy/, demos/ (labeled), bc/ (D_BC) and bc_model/."""
    tasks: tuple[int, int] = (0, 320)
    """BabyAI task ids [start, stop) the expert demonstrates (task i is level i % 40, seed
    i // 40); the harness test tasks are left out."""
    task_ids: tuple[int, ...] | None = None
    """An explicit list of task ids instead of the ``tasks`` range."""
    env: BabyAIConfig = field(default_factory=BabyAIConfig)
    """Environment settings of the demonstrations (use the generation stage's)."""
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    """Verbosity and detours of the expert's Thoughts."""
    model: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256))
    """Size of the tiny policy (2 small layers train in minutes on 2 cores)."""
    train: TrainConfig | None = None
    """One BC round (model and output_dir are filled in); None: lr 1e-3, 8 epochs, batch 8."""
    check_tasks: tuple[int, ...] = (0, 1, 2, 3, 4, 9, 11, 12)
    """Tasks played greedily after each round to see whether the policy acts sensibly."""
    min_valid_rate: float = 0.5
    """Share of valid actions in that greedy play at which the warm start stops."""
    max_rounds: int = 3
    """BC rounds at most (each continues from the last); the last round's policy is used
    even if it stays below ``min_valid_rate``, with a warning."""

    @property
    def round_config(self) -> TrainConfig:
        """The BC round's TrainConfig (model and output_dir still to fill in)."""
        from depo_ray.losses import LossConfig

        return self.train or TrainConfig(loss=LossConfig(name="sft"), lora=None, learning_rate=1e-3, epochs=8,
                                         global_batch_size=8, micro_batch_size=4, checkpoint_every=50)

    def __post_init__(self):
        if not 0 <= self.min_valid_rate <= 1:
            raise ValueError(f"min_valid_rate must be in [0, 1], got {self.min_valid_rate}")
        if self.max_rounds < 1 or not self.check_tasks:
            raise ValueError("max_rounds must be at least 1 and check_tasks non-empty")


def greedy_check(policy: str | Path, env_config: BabyAIConfig, task_ids, max_new_tokens: int = 96) -> dict:
    """Greedy play (transformers, in process) on ``task_ids``: share of valid actions and of
    successes. A quick sanity check, not the evaluation stage."""
    import torch

    from depo_ray.models import load_model, load_tokenizer
    from depo_ray.tokens import prompt_ids
    from environments.babyai.prompt import instruction_for
    from environments.episode import ObservedEnv, play_episode

    model, tokenizer = load_model(str(policy)).eval(), load_tokenizer(str(policy))
    env, valid, successes = BabyAITextEnv(env_config), [], 0

    def act(messages):
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()

    recorded = ObservedEnv(env, lambda result: valid.append(bool(result[4]["valid"])))
    for task_id in task_ids:
        successes += play_episode(recorded, {"task_id": task_id}, act, instruction_for(env_config.action_mode)).success
    return {"valid_rate": sum(valid) / max(1, len(valid)), "success_rate": successes / len(task_ids), "turns": len(valid)}


def bootstrap_policy(config: BootstrapConfig, progress: bool = True) -> Path:
    """Tiny policy -> expert demonstrations -> BC rounds with ``run_bc`` until greedy play
    is mostly valid actions (or ``max_rounds``). Every artifact is kept and reused on re-run.
    Returns the π_BC folder the search then serves; ``<run_dir>/bootstrap.json`` has the checks."""
    import json
    from dataclasses import replace

    from depo_ray.labeling import LabelConfig, label_records, select_bc
    from depo_ray.models import load_tokenizer
    from depo_ray.models.tiny import build_tiny_policy
    from depo_ray.records import write_shard
    from depo_ray.train.run import FINAL, run_bc
    from environments.babyai import HARNESS_TEST_TASKS
    from environments.babyai.vocabulary import vocabulary
    from environments.registry import select_tasks

    run = Path(config.run_dir)
    policy, bc_shard = run / "policy", run / "bc" / "expert.parquet"
    if not (policy / "config.json").exists():
        build_tiny_policy(vocabulary(), policy, config.model)
    if not bc_shard.exists():
        tasks = select_tasks(config.tasks, config.task_ids, tuple(HARNESS_TEST_TASKS))
        labeled = label_records(expert_records(tasks, load_tokenizer(str(policy)), config.env, config.expert, progress=progress),
                                LabelConfig())
        write_shard(labeled, run / "demos" / "expert.parquet")
        write_shard(select_bc(labeled, LabelConfig()), bc_shard)
    train = config.round_config
    start, checks = policy, []
    for round_number in range(1, config.max_rounds + 1):
        output = run / "bc_model" / f"round-{round_number}"
        if not (output / FINAL / "config.json").exists():
            run_bc(replace(train, model=str(start), output_dir=str(output)), [str(bc_shard)])
        check_file = output / "check.json"
        if not check_file.exists():
            check_file.write_text(json.dumps(greedy_check(output / FINAL, config.env, config.check_tasks)))
        checks.append({"round": round_number, **json.loads(check_file.read_text())})
        if progress:
            print(f"bootstrap round {round_number}: {checks[-1]}")
        start = output / FINAL
        if checks[-1]["valid_rate"] >= config.min_valid_rate:
            break
    else:
        print(f"warning: after {config.max_rounds} BC rounds greedy play has {checks[-1]['valid_rate']:.0%} valid "
              f"actions (wanted {config.min_valid_rate:.0%}); using the last round")
    (run / "bootstrap.json").write_text(json.dumps({"policy": str(start), "rounds": checks}, indent=2))
    return start
