"""Typed config of a Ray Tune sweep over DEPO's α1, α2 and β, or depo_weighted's γ_token,
γ_step and β (and the paper's studies).

A sweep starts from a pipeline run that got through ``bc``: its π_BC (of one seed), its
labeled data, its ``depo`` section (every trial's template) and its ``evaluate`` section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from depo_ray.losses.config import EFFICIENCY_SETTINGS

STUDIES = ("alpha_grid", "sample_efficiency", "ablation")
SEARCHERS = ("ax", "hyperopt", "bayesopt", "bohb", "nevergrad", "optuna", "zoopt", "hebo")
"""Ray Tune's searchers by name (``ray.tune.search.create_searcher``)."""
OPTIMISABLE = ("succ", "reward", "t_all", "s_all", "tokens_per_turn", "invalid_action_rate")
"""Metrics every trial reports as a number (T@Succ and S@Succ are null without a success)."""


@dataclass(frozen=True)
class Grid:
    alpha1: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    """α1 values (weight of 1 / T̄_token in the bonus)."""
    alpha2: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    """α2 values (weight of 1 / T_step in the bonus)."""
    beta: tuple[float, ...] = (0.1, 0.2)
    """β values."""
    gamma_token: tuple[float, ...] = (0.0, 0.5, 1.0)
    """γ_token values (depo_weighted: exponent of the tokens-per-turn term of the desirable weight)."""
    gamma_step: tuple[float, ...] = (0.0, 0.5, 1.0)
    """γ_step values (depo_weighted: exponent of the turns term of the desirable weight)."""

    def __post_init__(self):
        for name in ("alpha1", "alpha2", "beta", "gamma_token", "gamma_step"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"grid.{name}: give at least one value")
            if any(v < 0 for v in values) or (name == "beta" and any(v <= 0 for v in values)):
                raise ValueError(f"grid.{name}: values must be {'positive' if name == 'beta' else 'non-negative'}, got {list(values)}")


@dataclass(frozen=True)
class SweepConfig:
    pipeline: str = "configs/cpu_pipeline.yaml"
    """The pipeline config whose run folder the sweep starts from (π_BC, labeled data, the
    depo and evaluate sections); the run must have finished its bc stage. A run started with
    ``--set`` overrides: its own ``<run_dir>/config.yaml``."""
    seed: int = 0
    """Which of the pipeline's seeds gives π_BC (and the BC / KTO points on the plot)."""
    name: str = ""
    """Folder under <run_dir>/sweeps/ and the Tune experiment's name; empty: the study's name."""
    study: Literal["alpha_grid", "sample_efficiency", "ablation"] = "alpha_grid"
    """alpha_grid: every combination in ``grid`` of β and each loss's efficiency settings (α1,
    α2 for depo and depo_penalty; γ_token, γ_step for depo_weighted). sample_efficiency: the depo
    section's settings on each of ``fractions`` of the data. ablation: α1 only, α2 only, both,
    and both with the undesirable penalty, at the largest α values of ``grid`` and the depo
    section's β."""
    losses: tuple[str, ...] = ()
    """The losses the trials train: depo, depo_penalty or depo_weighted (the losses of
    EFFICIENCY_SETTINGS); empty: the pipeline's depo section's. In the alpha_grid study each
    loss runs over its own settings of ``grid`` (α1, α2 for depo and depo_penalty; γ_token,
    γ_step for depo_weighted) and all trials share one front; the other studies take one loss."""
    grid: Grid = field(default_factory=Grid)
    """Values swept by the alpha_grid study."""
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    """Shares of the labeled data in the sample_efficiency study."""
    search: str = "grid"
    """grid: every combination once. random: ``num_samples`` draws from the grid's values.
    A name from SEARCHERS is that Ray Tune searcher (optuna, hyperopt, ... when installed),
    optimising ``metric`` in ``mode``."""
    num_samples: int = 1
    """Trials drawn by random search and searchers. A grid runs each setting once: from one
    π_BC and one scored dataset a repeat would train the same model again."""
    metric: str = "succ"
    """What a searcher optimises: one of OPTIMISABLE."""
    mode: Literal["max", "min"] = "max"
    """Direction of ``metric`` for a searcher."""
    max_concurrent_trials: int | None = None
    """Trials at once; None: as many as the cluster holds (training or evaluation, whichever
    needs more CPUs/GPUs per trial)."""

    def __post_init__(self):
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {self.num_samples}")
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"fractions: each must be in (0, 1], got {list(self.fractions)}")
        if self.search not in ("grid", "random", *SEARCHERS):
            raise ValueError(f"search: expected grid, random or one of {list(SEARCHERS)}, got {self.search!r}")
        if self.search == "grid" and self.num_samples != 1:
            raise ValueError(f"num_samples: a grid runs each setting once (from one π_BC a repeat trains the same "
                             f"model); use random search, or one sweep per pipeline seed (seed), got {self.num_samples}")
        unknown = [name for name in self.losses if name not in EFFICIENCY_SETTINGS]
        if unknown or len(set(self.losses)) != len(self.losses):
            raise ValueError(f"losses: expected distinct names from {list(EFFICIENCY_SETTINGS)}, got {list(self.losses)}")
        if len(self.losses) > 1 and self.study != "alpha_grid":
            raise ValueError(f"losses: the {self.study} study takes one loss, got {list(self.losses)}")
        if len(self.losses) > 1 and self.search in SEARCHERS:
            raise ValueError(f"losses: a searcher ({self.search}) tunes one loss's settings; give one loss or use grid or random")
        if "depo_weighted" in self.losses and self.study == "ablation":
            raise ValueError("losses: the ablation varies DEPO's bonus terms (α1, α2, the penalty); depo_weighted has none")
        if self.search in SEARCHERS and self.study == "ablation":
            raise ValueError(f"search: the ablation's four variants run as a grid or at random, not with {self.search!r}")
        if self.metric not in OPTIMISABLE:
            raise ValueError(f"metric: expected one of {list(OPTIMISABLE)}, got {self.metric!r}")
        if self.max_concurrent_trials is not None and self.max_concurrent_trials < 1:
            raise ValueError(f"max_concurrent_trials must be at least 1 or null, got {self.max_concurrent_trials}")

    @property
    def folder_name(self) -> str:
        return self.name or self.study
