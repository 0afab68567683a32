"""DEPO training throughput and peak memory: depo-ray's step against TRL's KTOTrainer.

Same policy (the CPU default's tiny architecture, or ``--policy``: a folder, a Hugging Face id
or a named model such as smollm2-135m-instruct; full fine-tuning either way), same labeled expert
trajectories, same optimizer steps. Like against like: in each setting both sides use the same
effective batch, the same micro-batch (TRL: ``per_device_train_batch_size`` with gradient
accumulation) and the same gradient checkpointing. Both precompute reference log-probs before
training and are timed from the second step (warm-up and precompute excluded). Each side runs
in its own process so peak RSS is its own; every pair runs ``--repeats`` times, the side that
goes first alternating, and the table gives medians with their ranges and the median of the
per-repeat ratios. Run:

    .venv/bin/python benchmarks/depo_vs_trl_kto.py --batch 8 --steps 12 --micro-batch 2 --repeats 3
    .venv/bin/python benchmarks/depo_vs_trl_kto.py --policy smollm2-135m-instruct --batch 4 --steps 6 --repeats 3 \
        --settings micro-batch,checkpointing   # SmolLM2's whole batch peaks near the machine's 24 GB

Note: TRL's KTO treats everything after the prompt as the completion, so it also trains on
the observation turns inside a multi-turn trajectory; depo-ray masks them. The token count
processed per sample is the same.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SETTINGS = ("whole-batch", "micro-batch", "checkpointing")  # --settings names, in the table's order


def prepare(work: Path, samples: int, policy: str | None) -> str:
    """The labeled trajectories, tokenized for the policy; returns the policy's folder."""
    from depo_ray.bootstrap.warm_start import expert_records
    from depo_ray.env_setup import EnvConfig
    from depo_ray.labeling import LabelConfig, label_records
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.models.tiny import build_tiny_policy, vocabulary_of
    from depo_ray.records import write_shard
    from environments.babyai.levels import tasks_for_levels
    from environments.babyai.vocabulary import vocabulary_texts

    if policy is None:
        policy = str(build_tiny_policy(vocabulary_of(vocabulary_texts()), work / "policy"))
    levels = ["BabyAI-GoToLocalS8N7-v0", "BabyAI-Open-v0", "BabyAI-Pickup-v0", "BabyAI-UnlockLocalDist-v0",
              "BabyAI-PickupAbove-v0", "BabyAI-GoToSeqS5R2-v0"]
    records = expert_records(tasks_for_levels(levels, range(samples)), load_tokenizer(policy),
                             EnvConfig(options={"max_turns": 12}), {"detour_share": 0.5}, progress=False)
    labeled = [r for r in label_records(records, LabelConfig()) if r.label]
    random.Random(0).shuffle(labeled)
    write_shard(labeled[:samples], work / "data.parquet")
    return policy


def run_ours(work: Path, policy: str, batch: int, steps: int, micro_batch: int | None, checkpointing: bool) -> dict:
    import pyarrow as pa
    import torch

    from depo_ray.losses.registry import get_loss
    from depo_ray.losses.config import LossConfig
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.records import read_records
    from depo_ray.tokens import chat_tokens
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.data import local_slice, pack_global_batch
    from depo_ray.train.loop import build_model
    from depo_ray.train.steps import preference_step
    from depo_ray.train.reference import ScoreWithReference

    tokenizer = load_tokenizer(policy)
    rows = []
    for r in read_records(work / "data.parquet"):
        tokens = chat_tokens(tokenizer, r.messages)
        rows.append({"messages": r.messages, "label": r.label, "avg_tokens_per_step": r.avg_tokens_per_step,
                     "steps": r.steps, "input_ids": tokens.input_ids, "assistant_mask": tokens.assistant_mask})
    scorer = ScoreWithReference(policy)
    packed = [scorer(pack_global_batch(pa.Table.from_pylist(rows[i:i + batch]), policy, batch, 1, True, 4096)).to_pylist()[0]
              for i in range(0, len(rows) - batch + 1, batch)]
    del scorer
    config = TrainConfig(loss=LossConfig(name="depo", alpha1=1.0, alpha2=1.0),
                         lora=None, learning_rate=1e-4, global_batch_size=batch, micro_batch_size=micro_batch,
                         gradient_checkpointing=checkpointing)
    model = build_model(config, policy)
    model.train()  # as the train loop does (checkpointing acts in training mode only)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    loss_fn, started = get_loss("depo"), None
    for step in range(steps):
        if step == 1:
            started = time.perf_counter()
        optimizer.zero_grad()
        preference_step(model, local_slice(packed[step % len(packed)], 0, 1), tokenizer.pad_token_id, loss_fn, config)
        optimizer.step()
    return {"seconds": time.perf_counter() - started, "timed_steps": steps - 1}


def run_trl(work: Path, policy: str, batch: int, steps: int, micro_batch: int | None, checkpointing: bool) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import KTOConfig, KTOTrainer

    from depo_ray.models.loading import load_model, load_tokenizer
    from depo_ray.records import read_records
    from depo_ray.train.data import prompt_length

    rows = []
    for r in read_records(work / "data.parquet"):
        k = prompt_length(r.messages)
        rows.append({"prompt": r.messages[:k], "completion": r.messages[k:], "label": r.label == "desirable"})

    class Timer(TrainerCallback):
        started = None

        def on_step_begin(self, args, state, control, **kwargs):  # once per optimizer step
            if state.global_step == 1 and Timer.started is None:
                Timer.started = time.perf_counter()

    micro = micro_batch or batch
    config = KTOConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=micro, gradient_accumulation_steps=batch // micro,
        gradient_checkpointing=checkpointing, max_steps=steps, learning_rate=1e-4,
        beta=0.2, precompute_ref_log_probs=True, report_to=[], save_strategy="no", logging_steps=10_000,
        use_cpu=True, disable_tqdm=True, seed=0, max_length=4096, weight_decay=0.0, lr_scheduler_type="constant",
        dataloader_num_workers=0,
    )
    trainer = KTOTrainer(model=load_model(policy), args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=load_tokenizer(policy), callbacks=[Timer()])
    trainer.train()
    return {"seconds": time.perf_counter() - Timer.started, "timed_steps": steps - 1}


def run_side(side: str, work: Path, policy: str, args, micro_batch: int | None, checkpointing: bool) -> dict:
    """One side in a process of its own: its samples/s and peak RSS."""
    child = ["--child", side, "--work", str(work), "--policy", policy, "--batch", str(args.batch), "--steps", str(args.steps),
             *(["--child-micro-batch", str(micro_batch)] if micro_batch else []),
             *(["--child-checkpointing"] if checkpointing else [])]
    out = subprocess.run([sys.executable, __file__, *child], capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return {"samples_per_s": result["timed_steps"] * args.batch / result["seconds"], "peak_rss_mb": result["peak_rss_mb"]}


def spread(values: list[float], digits: str = ".3g") -> str:
    """Median [min, max]."""
    return f"{statistics.median(values):{digits}} [{min(values):{digits}}, {max(values):{digits}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--micro-batch", type=int, default=2, help="the micro-batch of the second and third settings")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side in each setting")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated subset of {', '.join(SETTINGS)} (default: all three)")
    parser.add_argument("--child", choices=("ours", "trl"))
    parser.add_argument("--child-micro-batch", type=int)
    parser.add_argument("--child-checkpointing", action="store_true")
    parser.add_argument("--work")
    parser.add_argument("--policy", help="folder, Hugging Face id or named model (default: the tiny CPU policy)")
    args = parser.parse_args()
    if args.child:
        run = run_ours if args.child == "ours" else run_trl
        result = run(Path(args.work), args.policy, args.batch, args.steps, args.child_micro_batch, args.child_checkpointing)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result))
        return
    if args.batch % args.micro_batch or args.repeats < 1:
        parser.error(f"--micro-batch {args.micro_batch} must divide --batch {args.batch}, and --repeats be at least 1")
    chosen = args.settings.split(",")
    if set(chosen) - set(SETTINGS):
        parser.error(f"--settings {args.settings!r}: choose from {', '.join(SETTINGS)}")
    settings = {"whole batch": (None, False), f"micro-batch {args.micro_batch}": (args.micro_batch, False),
                f"micro-batch {args.micro_batch} + checkpointing": (args.micro_batch, True)}
    settings = {name: setting for key, (name, setting) in zip(SETTINGS, settings.items()) if key in chosen}
    runs: dict[str, dict[str, list[dict]]] = {name: {"trl": [], "ours": []} for name in settings}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        from depo_ray.config import model_under_root

        policy = prepare(work, args.samples, model_under_root(ROOT, args.policy) if args.policy else None)
        for repeat in range(args.repeats):
            for name, (micro_batch, checkpointing) in settings.items():
                for side in (("trl", "ours") if repeat % 2 == 0 else ("ours", "trl")):
                    runs[name][side].append(run_side(side, work, policy, args, micro_batch, checkpointing))
                    # each run as it ends: a long comparison stopped midway keeps what it measured
                    print(json.dumps({"setting": name, "repeat": repeat, "side": side, **runs[name][side][-1]}), flush=True)
    print(f"batch {args.batch}, {args.steps} steps ({args.steps - 1} timed), {args.policy or 'tiny policy'}, "
          f"{args.samples} trajectories, {args.repeats} runs of each side: median [min, max]")
    print("| setting | TRL samples/s | depo-ray samples/s | speed vs TRL | TRL peak RSS MB | depo-ray peak RSS MB | memory vs TRL |")
    print("|---|---|---|---|---|---|---|")
    for name, sides in runs.items():
        trl, ours = sides["trl"], sides["ours"]
        speed = [o["samples_per_s"] / t["samples_per_s"] for o, t in zip(ours, trl)]
        memory = [o["peak_rss_mb"] / t["peak_rss_mb"] for o, t in zip(ours, trl)]
        print(f"| {name} | {spread([t['samples_per_s'] for t in trl])} | {spread([o['samples_per_s'] for o in ours])} | "
              f"{spread(speed, '.2f')} | {spread([t['peak_rss_mb'] for t in trl], '.0f')} | "
              f"{spread([o['peak_rss_mb'] for o in ours], '.0f')} | {spread(memory, '.2f')} |")


if __name__ == "__main__":
    main()
