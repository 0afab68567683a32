"""The efficiency/success Pareto front of a sweep (pure functions, no Ray).

A point dominates another when it is at least as good on every objective and strictly
better on one. Equal points do not dominate each other, so ties stay on the front together;
a duplicate of a dominated point is dominated too.
"""

from __future__ import annotations

from typing import Mapping, Sequence

OBJECTIVES = {"succ": "max", "t_all": "min", "s_all": "min"}
"""Success up, tokens per task down, turns per task down (docs/design.md's metric names)."""


def _oriented(point: Mapping[str, float], objectives: Mapping[str, str]) -> tuple[float, ...]:
    """Every objective turned into 'larger is better'."""
    values = []
    for key, mode in objectives.items():
        if mode not in ("max", "min"):
            raise ValueError(f"objective {key!r}: mode must be 'max' or 'min', got {mode!r}")
        value = point.get(key)
        if value is None or value != value:
            raise ValueError(f"objective {key!r} is missing or NaN in {dict(point)}")
        values.append(value if mode == "max" else -value)
    return tuple(values)


def dominates(a: Mapping[str, float], b: Mapping[str, float], objectives: Mapping[str, str] = OBJECTIVES) -> bool:
    va, vb = _oriented(a, objectives), _oriented(b, objectives)
    return all(x >= y for x, y in zip(va, vb)) and any(x > y for x, y in zip(va, vb))


def pareto_front(points: Sequence[Mapping[str, float]], objectives: Mapping[str, str] = OBJECTIVES) -> list[int]:
    """Indices of the non-dominated points, in input order."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, objectives) for j, q in enumerate(points) if j != i)]
