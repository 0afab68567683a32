"""Training losses behind a small registry: a new loss registers itself and the training
loop picks it by name, without being edited. Importing this package registers sft, kto,
depo, depo_penalty and depo_weighted, and the distillation losses token_kd and sad (trained
by ``depo_ray.train.distill.distill_step`` from a teacher's stored distributions)."""

from depo_ray.losses import distill, sft  # noqa: F401  (registers "token_kd", "sad" and "sft")
from depo_ray.losses.preference import (EFFICIENCY_SETTINGS, PreferenceBatch, efficiency_bonus, efficiency_weights,
                                        kl_reference_point)
from depo_ray.losses.registry import LOSSES, LossConfig, get_loss, prepare_batch, register_loss

__all__ = ["EFFICIENCY_SETTINGS", "LOSSES", "LossConfig", "PreferenceBatch", "efficiency_bonus", "efficiency_weights",
           "get_loss", "kl_reference_point", "prepare_batch", "register_loss"]
