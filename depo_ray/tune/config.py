"""Typed config of a Ray Tune sweep over DEPO's α1, α2 and β (and the paper's studies).

A sweep starts from a pipeline run that got through ``bc``: its π_BC (of one seed), its
labeled data, its ``depo`` section (every trial's template) and its ``evaluate`` section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

STUDIES = ("alpha_grid", "sample_efficiency", "ablation")


@dataclass(frozen=True)
class Grid:
    alpha1: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    """α1 values (weight of 1 / T̄_token in the bonus)."""
    alpha2: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    """α2 values (weight of 1 / T_step in the bonus)."""
    beta: tuple[float, ...] = (0.1, 0.2)
    """β values."""

    def __post_init__(self):
        for name in ("alpha1", "alpha2", "beta"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"grid.{name}: give at least one value")
            if any(v < 0 for v in values) or (name == "beta" and any(v <= 0 for v in values)):
                raise ValueError(f"grid.{name}: values must be {'positive' if name == 'beta' else 'non-negative'}, got {list(values)}")


@dataclass(frozen=True)
class SweepConfig:
    pipeline: str = "configs/cpu_pipeline.yaml"
    """The pipeline config whose run folder the sweep starts from (π_BC, labeled data, the
    depo and evaluate sections); the run must have finished its bc stage."""
    seed: int = 0
    """Which of the pipeline's seeds gives π_BC (and the BC / KTO points on the plot)."""
    name: str = ""
    """Folder under <run_dir>/sweeps/ and the Tune experiment's name; empty: the study's name."""
    study: Literal["alpha_grid", "sample_efficiency", "ablation"] = "alpha_grid"
    """alpha_grid: every (α1, α2, β) of ``grid``. sample_efficiency: the depo section's α and β
    on each of ``fractions`` of the data. ablation: α1 only, α2 only, both, and both with the
    undesirable penalty, at the largest α values of ``grid`` and the depo section's β."""
    grid: Grid = field(default_factory=Grid)
    """Values swept by the alpha_grid study."""
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    """Shares of the labeled data in the sample_efficiency study."""
    search: str = "grid"
    """grid: every combination, ``num_samples`` times each. random: ``num_samples`` draws from
    the grid's values. Any other name is a Ray Tune searcher (``ray.tune.search``:
    optuna, hyperopt, ... when installed), optimising ``metric`` in ``mode``."""
    num_samples: int = 1
    """Repeats of the grid, or trials drawn by random search and searchers."""
    metric: str = "succ"
    """What a searcher optimises (succ, reward, t_all, s_all, ...)."""
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
        if self.max_concurrent_trials is not None and self.max_concurrent_trials < 1:
            raise ValueError(f"max_concurrent_trials must be at least 1 or null, got {self.max_concurrent_trials}")

    @property
    def folder_name(self) -> str:
        return self.name or self.study
