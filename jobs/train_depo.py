"""DEPO (or KTO, or the penalty ablation: set train.loss.name) from π_BC on Ray Train.

    ray job submit --working-dir . -- python jobs/train_depo.py --config configs/cpu_depo.yaml
"""

from depo_ray.train.cli import main

if __name__ == "__main__":
    main("depo")
