"""Ray Tune sweeps of DEPO (α1, α2, β; data share; ablations) and their Pareto front."""

from depo_ray.tune.pareto import dominates, pareto_front

__all__ = ["dominates", "pareto_front"]
