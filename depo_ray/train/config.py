"""Typed configuration of one training stage (BC, distillation or DEPO/KTO), validated at construction."""

from __future__ import annotations

from dataclasses import dataclass, field

from depo_ray.distill.curriculum import CurriculumConfig
from depo_ray.losses.config import DISTILL_LOSSES, LossConfig
from depo_ray.losses.registry import loss_names

FINAL = "final"
"""The trained policy's folder under a training stage's output_dir (a plain Hugging Face folder)."""


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    """Adapter rank."""
    alpha: int = 32
    """Adapter scaling (lora_alpha)."""
    dropout: float = 0.05
    """Dropout on the adapter input."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    """Modules that get adapters (Llama / Qwen names)."""


@dataclass(frozen=True)
class TrainConfig:
    loss: LossConfig = field(default_factory=LossConfig)
    """Which registered loss, with β, λ and α."""
    lora: LoraSettings | None = field(default_factory=LoraSettings)
    """LoRA adapters (merged into the final model); None trains every weight (the tiny
    CPU policy starts from random weights and needs that)."""
    learning_rate: float = 1e-4
    """AdamW learning rate (paper: 1e-4 for BC, 2e-5 for DEPO)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    epochs: int = 3
    """Passes over the data (paper: 3)."""
    global_batch_size: int = 8
    """Samples per optimizer step over all workers."""
    micro_batch_size: int | None = None
    """Sequences per forward/backward pass inside a local batch (gradient accumulation over
    length-sorted groups: lower peak memory, same loss and z0). None: the whole local batch."""
    num_workers: int = 1
    """Ray Train workers (DDP: gloo on CPU, NCCL on GPU)."""
    use_gpu: bool = False
    """One GPU per worker."""
    cpus_per_worker: int = 1
    """CPU cores reserved per worker."""
    max_length: int = 4096
    """Trajectories longer than this many tokens are left out (never truncated: a cut
    trajectory would change what the loss means)."""
    checkpoint_every: int = 20
    """Optimizer steps between checkpoints (one is always written at the end)."""
    report_every: int = 10
    """Optimizer steps between reports of the latest metrics to Ray Train (checkpoints are
    reported when due). Each report waits for the train controller's next poll, about 2 s
    on Ray 2.60, so a report every step would triple a CPU step; metrics.jsonl gets every step."""
    max_failures: int = 2
    """Restarts of the worker group after it lost a worker (killed, its node gone), each
    resuming from the latest checkpoint; an error raised by the training code is not retried."""
    seed: int = 0
    """Seed of the global shuffle and of weight initialisation of adapters."""
    dtype: str = "float32"
    """Training dtype of the weights (float32 on CPU, bfloat16 on GPU)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them: less
    memory for long chats (a pretrained model's chats of thousands of tokens), at the cost of
    a second forward pass through the layers. The gradient is the same."""
    data_fraction: float = 1.0
    """Share of the packed global batches a stage trains on (the first ones after the seeded
    global shuffle, so a random subset of trajectories, the same on every run): the
    sample-efficiency study. A preference stage still scores the whole data with π_BC once."""
    teacher: str | None = None
    """Distillation (loss token_kd or sad): the teacher checkpoint, with the student's
    tokenizer; it scores the data once before training. None for every other loss."""
    teacher_top_k: int = 32
    """Distillation: tokens kept per position of the teacher's distribution (the rest of the
    vocabulary is one bucket of the KL)."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Distillation: the order of the trajectories in each epoch (shuffle, as in BC, or
    simple to complex by the teacher's complexity score)."""

    @property
    def local_batch_size(self) -> int:
        return self.global_batch_size // self.num_workers

    @property
    def scoring_threads(self) -> int:
        """Threads of the actor that scores the data before training starts (π_BC's reference
        log-probs, a teacher's distributions): the cores the workers take once it is done."""
        return self.cpus_per_worker * (1 if self.use_gpu else self.num_workers)

    def __post_init__(self):
        if self.loss.name not in loss_names():
            raise ValueError(f"loss.name: unknown loss {self.loss.name!r}; registered: {loss_names()}")
        for name in ("epochs", "global_batch_size", "num_workers", "cpus_per_worker", "max_length", "checkpoint_every", "report_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be at least 1 or null, got {self.micro_batch_size}")
        if not 0 < self.data_fraction <= 1:
            raise ValueError(f"data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.max_failures < 0:
            raise ValueError(f"max_failures must be non-negative, got {self.max_failures}")
        if self.global_batch_size % self.num_workers:
            raise ValueError(
                f"global_batch_size ({self.global_batch_size}) must be a multiple of num_workers ({self.num_workers}) "
                "so every worker takes the same local batch"
            )
        if self.loss.name not in ("sft", *DISTILL_LOSSES) and self.local_batch_size < 2:
            raise ValueError(
                f"loss {self.loss.name!r} needs a local batch of at least 2 (global_batch_size / num_workers = "
                f"{self.local_batch_size}): z0 pairs each sample with its neighbour in the local batch"
            )
        distilling = self.loss.name in DISTILL_LOSSES
        if distilling != (self.teacher is not None):
            raise ValueError(f"teacher: the distillation losses {list(DISTILL_LOSSES)} need one and the others take "
                             f"none (loss {self.loss.name!r}, teacher {self.teacher!r})")
        if self.curriculum != CurriculumConfig() and not distilling:
            raise ValueError("curriculum: its score uses the teacher's entropy; set it with a distillation loss")
        if self.teacher_top_k < 1:
            raise ValueError(f"teacher_top_k must be at least 1, got {self.teacher_top_k}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
