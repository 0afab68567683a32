"""Training losses behind a small registry: a new loss registers itself and the training
loop picks it by name, without being edited."""

from depo_ray.losses.preference import PreferenceBatch, efficiency_bonus, kl_reference_point
from depo_ray.losses.registry import LOSSES, LossConfig, get_loss, register_loss
from depo_ray.losses import preference as _preference  # noqa: F401  (registers kto, depo, depo_penalty)
from depo_ray.losses import sft as _sft  # noqa: F401  (registers sft)

__all__ = ["LOSSES", "LossConfig", "PreferenceBatch", "efficiency_bonus", "get_loss", "kl_reference_point", "register_loss"]
