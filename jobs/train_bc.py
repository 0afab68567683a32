"""Behaviour cloning (SFT on D_BC) on Ray Train.

    ray job submit --working-dir . -- python jobs/train_bc.py --config configs/cpu_bc.yaml
"""

from depo_ray.train.cli import main

if __name__ == "__main__":
    main("bc")
