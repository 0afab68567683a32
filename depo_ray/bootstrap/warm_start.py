"""The expert's demonstrations as records, and the BC rounds on them (``bootstrap_policy``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from depo_ray.bootstrap.config import BootstrapConfig, BootstrapRun
from depo_ray.env_setup import EnvConfig, expert_config, expert_kit, make_env, select_tasks
from depo_ray.files import write_text_atomically
from depo_ray.labeling import LabelConfig, label_records, select_bc
from depo_ray.records import TrajectoryRecord, read_records, record_from_episode, write_shard
from depo_ray.tokens import prompt_ids, tokens_per_turn
from depo_ray.train.config import FINAL
from environments.episode import play_episode

# torch and transformers load on first use: the pipeline's recipe, which plans and dry runs read,
# imports this module.


def expert_records(task_ids: Iterable[int], tokenizer, env: EnvConfig, expert_options: dict,
                   split: str = "train", seed: int = 0, progress: bool = True,
                   direct_twins: bool = False) -> list[TrajectoryRecord]:
    """One record per task the env's expert could play (tasks it cannot solve are skipped),
    under the environment's own name, as the search and the evaluation record theirs. With
    ``direct_twins``, a demonstration that took detours is followed by the same task played
    without them (``direct_twin`` in its provenance)."""
    task_env, config = make_env(env), expert_config(env.name, expert_options)
    kit = expert_kit(env.name)
    play = kit.demonstrator(task_env.env, config, seed)
    play_direct = kit.demonstrator(task_env.env, replace(config, detour_share=0.0), seed) if direct_twins else None
    records = []

    def record(demo, task_id: int, twin: bool) -> None:
        episode, details = demo
        described = task_env.describe(task_id)
        records.append(record_from_episode(
            episode, tokenizer, task_id=str(task_id), env=task_env.name, split=split, seed=described["seed"],
            source="expert", policy="expert",
            provenance={**described["provenance"], **details, **({"direct_twin": 1} if twin else {})},
        ))

    for task_id in tqdm(list(task_ids), desc="expert demonstrations", disable=not progress):
        demo = play(task_id)
        if demo is None:
            continue
        record(demo, task_id, twin=False)
        if play_direct is not None and demo[1].get("detours"):
            twin = play_direct(task_id)
            if twin is not None:
                record(twin, task_id, twin=True)
    return records


def turns_over_budget(records: Iterable[TrajectoryRecord], tokenizer, max_new_tokens: int) -> dict:
    """How many assistant turns of ``records`` need more than ``max_new_tokens`` tokens."""
    lengths = [n for record in records for n in tokens_per_turn(tokenizer, record.messages)]
    return {"turns": len(lengths), "over_budget": sum(n > max_new_tokens for n in lengths), "max_new_tokens": max_new_tokens}


def greedy_check(policy: str | Path, env_config: EnvConfig, task_ids, max_new_tokens: int) -> dict:
    """Greedy play (transformers, in process) on ``task_ids``: share of valid actions and of
    successes. A quick sanity check, not the evaluation stage."""
    import torch

    from depo_ray.models.loading import load_model, load_tokenizer

    model, tokenizer = load_model(str(policy)).eval(), load_tokenizer(str(policy))
    task_env = make_env(env_config)

    def act(messages):
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()

    episodes = [play_episode(task_env.env, task_env.reset_options(task_id), act, task_env.instruction)
                for task_id in task_ids]
    turns = sum(e.turns for e in episodes)
    valid = turns - sum(len(e.invalid_turns) for e in episodes)
    return {"valid_rate": valid / max(1, turns), "success_rate": sum(e.success for e in episodes) / len(task_ids),
            "turns": turns}


def write_expert_demos(config: BootstrapConfig, env: EnvConfig, tokenizer, folder: Path,
                       progress: bool = True) -> list[TrajectoryRecord]:
    """The expert's demonstrations of the config's tasks of ``env``, tokenized for the policy
    that will learn from them, labeled with the default thresholds, in ``folder/expert.parquet``."""
    tasks = select_tasks(config.tasks, config.task_ids, make_env(env).held_out)
    records = expert_records(tasks, tokenizer, env, config.expert, progress=progress, direct_twins=config.direct_twins)
    labeled = label_records(records, LabelConfig())
    write_shard(labeled, folder / "expert.parquet")
    return labeled


def bootstrap_policy(config: BootstrapConfig, target: BootstrapRun, progress: bool = True) -> Path:
    """A new tiny policy (``config.model``) or the target's pretrained policy -> expert
    demonstrations of its env -> BC rounds with ``run_bc`` until greedy play is mostly valid
    actions (or ``max_rounds``), all in the target's folder. Every artifact is kept and reused
    on re-run. Returns the π_BC folder the search then serves; ``bootstrap.json`` has the
    checks and how many expert turns are longer than the turn budget."""
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.models.tiny import build_tiny_policy, vocabulary_of
    from depo_ray.train.run import run_bc

    run, env, budget = Path(target.folder), target.env, target.max_new_tokens
    kit, task_env = expert_kit(env.name), make_env(env)
    start, bc_shard = target.policy or run / "policy", run / "bc" / "expert.parquet"
    if target.policy is None and not (start / "config.json").exists():
        build_tiny_policy(vocabulary_of(kit.vocabulary_texts(task_env.env)), start, config.model, keep_spacing=kit.keep_spacing)
    if not bc_shard.exists():
        labeled = write_expert_demos(config, env, load_tokenizer(str(start)), run / "demos", progress)
        write_shard(select_bc(labeled, LabelConfig()), bc_shard)
    demo_turns = turns_over_budget(read_records(run / "demos"), load_tokenizer(str(start)), budget)
    if demo_turns["over_budget"]:
        print(f"warning: {demo_turns['over_budget']} of {demo_turns['turns']} expert turns are longer than the "
              f"{budget} tokens the policy may write per turn; imitating them teaches turns cut off before their Action")
    train, checks = config.round_config, []
    for round_number in range(1, config.max_rounds + 1):
        output = run / "bc_model" / f"round-{round_number}"
        if not (output / FINAL / "config.json").exists():
            run_bc(train, str(start), output, [str(bc_shard)])
        check_file = output / "check.json"
        if not check_file.exists():
            write_text_atomically(check_file, json.dumps(greedy_check(output / FINAL, env, config.check_tasks, budget)))
        checks.append({"round": round_number, **json.loads(check_file.read_text())})
        if progress:
            print(f"bootstrap round {round_number}: {checks[-1]}")
        start = output / FINAL
        if checks[-1]["valid_rate"] >= config.min_valid_rate:
            break
    else:
        print(f"warning: after {config.max_rounds} BC rounds greedy play has {checks[-1]['valid_rate']:.0%} valid "
              f"actions (wanted {config.min_valid_rate:.0%}); using the last round")
    write_text_atomically(run / "bootstrap.json", json.dumps({"policy": str(start), "rounds": checks, "expert_turns": demo_turns}, indent=2))
    return start
