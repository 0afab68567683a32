"""Behaviour cloning (SFT on D_BC) on Ray Train.

    ray job submit -- python "$PWD/jobs/train_bc.py" --config configs/cpu_bc.yaml
"""

from pathlib import Path

from depo_ray.train.cli import main

if __name__ == "__main__":
    main("bc", root=Path(__file__).resolve().parents[1])
