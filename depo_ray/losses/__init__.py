"""Training losses behind a small registry: a new loss registers itself and the training
loop picks it by name, without being edited. Importing this package registers sft, kto,
depo and depo_penalty."""

from depo_ray.losses import sft  # noqa: F401  (registers "sft")
from depo_ray.losses.preference import PreferenceBatch, efficiency_bonus, kl_reference_point
from depo_ray.losses.registry import LOSSES, LossConfig, get_loss, register_loss

__all__ = ["LOSSES", "LossConfig", "PreferenceBatch", "efficiency_bonus", "get_loss", "kl_reference_point", "register_loss"]
