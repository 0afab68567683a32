"""The per-worker training loop that Ray Train runs (thin: the maths is in depo_ray.losses).

Each step takes this worker's slice of one packed global batch, accumulates the gradient of the
registered loss over micro-batches, and steps the optimizer (DDP averages gradients). Rank 0 appends every step's metrics to
metrics.jsonl; every ``report_every`` steps the workers report them to Ray Train, and rank 0 attaches
a checkpoint every ``checkpoint_every`` steps; after a failure Ray
Train restarts the workers, which resume from the latest checkpoint and skip the steps done.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from depo_ray.files import write_text_atomically
from depo_ray.losses.registry import get_loss
from depo_ray.train.config import TrainConfig
from depo_ray.train.data import local_slice
from depo_ray.train.steps import all_reduce_sum, distill_step, preference_step, sft_step

# peft, transformers and Ray Train load on first use: train.run, which imports this module, takes
# torch only.

STATE_FILE = "train_state.pt"


def build_model(config: TrainConfig, start: str):
    """The policy ``start`` (a folder or Hugging Face id) as ``config`` trains it."""
    from depo_ray.models.loading import load_model

    model = load_model(start, dtype=config.dtype)
    if config.gradient_checkpointing:
        # non-reentrant: frozen embeddings under LoRA need no input that requires grad
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.lora
        model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                 target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    return model


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def train_loop(loop_config: dict) -> None:
    """``loop_config``: the stage's ``config``, the ``model`` it starts from and its ``output_dir``."""
    import ray.train
    import ray.train.torch

    from depo_ray.models.loading import load_tokenizer

    config: TrainConfig = loop_config["config"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.manual_seed(config.seed)
    model = build_model(config, loop_config["model"])
    optimizer_params = [p for p in model.parameters() if p.requires_grad]
    start_step = 0
    optimizer = torch.optim.AdamW(optimizer_params, lr=config.learning_rate, weight_decay=config.weight_decay)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        start_step = state["step"]
    model = ray.train.torch.prepare_model(model)
    pad_id = load_tokenizer(loop_config["model"]).pad_token_id
    loss_fn = get_loss(config.loss.name)
    step_fn = sft_step if config.loss.name == "sft" else distill_step if config.teacher else preference_step
    metrics_path = Path(loop_config["output_dir"]) / "metrics.jsonl"
    if rank == 0:
        keep_metrics_until(metrics_path, start_step)
    shard = ray.train.get_dataset_shard("train")

    step = 0
    for epoch in range(config.epochs):
        for row in shard.iter_rows():
            step += 1
            if step <= start_step:
                continue  # done before the restart
            started = time.perf_counter()
            part = local_slice(row, rank, world)
            model.train()
            optimizer.zero_grad(set_to_none=True)
            metrics, tokens = step_fn(model, part, pad_id, loss_fn, config)
            optimizer.step()
            elapsed = all_reduce_sum(torch.tensor([time.perf_counter() - started]))[0].item() / world
            metrics.update(step=step, epoch=epoch, tokens_per_s=all_reduce_sum(torch.tensor([float(tokens)]))[0].item() / elapsed,
                           resumed_from=start_step)
            if rank == 0:
                with metrics_path.open("a") as log:
                    log.write(json.dumps(metrics) + "\n")
            save = step % config.checkpoint_every == 0
            if save or step % config.report_every == 0:
                _report(metrics, model, optimizer, step, save=save, rank=rank)
    if step > start_step and step % config.checkpoint_every:
        _report({"step": step, "final": True}, model, optimizer, step, save=True, rank=rank)


def keep_metrics_until(path: Path, step: int) -> None:
    """Drop the metrics of steps after ``step``: a run that died past its last checkpoint
    trains them again, and each step should appear once. A line cut off by the death (the
    last one, half appended) is dropped too, instead of stopping the resume."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if (row := _parsed(line)) is not None and row["step"] <= step]
    write_text_atomically(path, "".join(line + "\n" for line in kept))


def _parsed(line: str) -> dict | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _report(metrics, model, optimizer, step: int, save: bool, rank: int) -> None:
    """Every worker reports; rank 0 attaches the checkpoint when one is due."""
    import ray.train
    from ray.train import Checkpoint

    if not (save and rank == 0):
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        unwrapped = model.module if hasattr(model, "module") else model
        state = {"model": trainable_state(unwrapped), "optimizer": optimizer.state_dict(), "step": step}
        torch.save(state, Path(folder) / STATE_FILE)
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(folder))
