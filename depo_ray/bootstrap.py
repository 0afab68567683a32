"""Expert demonstrations as trajectory records: the CPU default's starting data.

There is no pretrained policy offline, so the tiny model first learns from the BabyAI bot's
demonstrations (behaviour cloning with the same training code as everything else). Until
search-generated data exists, the same demonstrations, labeled, are also what BC and DEPO
train on.
"""

from __future__ import annotations

from typing import Iterable

from tqdm import tqdm

from depo_ray.records import TrajectoryRecord, record_from_episode
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
