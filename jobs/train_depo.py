"""DEPO (or KTO, the penalty ablation or depo_weighted: set train.loss.name) from π_BC on Ray Train.

    ray job submit -- python "$PWD/jobs/train_depo.py" --config configs/cpu_depo.yaml
"""

from pathlib import Path

from depo_ray.train.cli import main

if __name__ == "__main__":
    main("depo", root=Path(__file__).resolve().parents[1])
