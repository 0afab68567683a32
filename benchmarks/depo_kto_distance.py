"""How different DEPO's policy is from KTO's, per seed of a pipeline run.

    .venv/bin/python benchmarks/depo_kto_distance.py runs/cpu-seeds-v3

Both start from the seed's π_BC on the same data and batches, so their weights differ only
through the bonus. Prints the L2 distances between the final weights (KTO − BC, DEPO − BC,
DEPO − KTO, and DEPO − KTO as a share of KTO's update) and, from DEPO's metrics.jsonl, how
the bonus moved the desirable branch's sigmoid argument β(r + b − z0) at the batch mean:
the steps where it was negative (the only place a bonus adds weight) and the mean ratio of
σ′ with the bonus to σ′ without it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise SystemExit(f"{folder}: no .safetensors files (has this stage finished?)")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        weights.update({name: tensor.double() for name, tensor in load_file(str(file)).items()})
    return weights


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    if a.keys() != b.keys():
        raise SystemExit("the checkpoints hold different tensors; compare full-weight or merged checkpoints")
    return math.sqrt(sum(float(((a[name] - b[name]) ** 2).sum()) for name in a))


def sigmoid_slope(x: float) -> float:
    s = 1.0 / (1.0 + math.exp(-x))
    return s * (1.0 - s)


def bonus_effect(metrics_file: Path, beta: float) -> tuple[int, int, float]:
    """(steps with a negative batch-mean argument, steps with desirable samples, mean σ′ ratio).

    metrics.jsonl logs reward_desirable as β·r, z0 and the bonus b unscaled.
    """
    negative, counted, ratios = 0, 0, []
    for line in metrics_file.read_text().splitlines():
        row = json.loads(line)
        if row.get("reward_desirable") is None:
            continue
        without_bonus = row["reward_desirable"] - beta * row["z0"]
        with_bonus = without_bonus + beta * row["bonus"]
        counted += 1
        negative += with_bonus < 0
        ratios.append(sigmoid_slope(with_bonus) / sigmoid_slope(without_bonus))
    return negative, counted, sum(ratios) / max(len(ratios), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a pipeline run folder whose depo stage has finished")
    args = parser.parse_args()
    seeds = sorted(path.name for path in (args.run_dir / "depo").glob("seed-*"))
    if not seeds:
        raise SystemExit(f"{args.run_dir}/depo has no seed-* folders")
    print("| seed | ‖KTO−BC‖ | ‖DEPO−BC‖ | ‖DEPO−KTO‖ | DEPO−KTO / KTO−BC | steps with β(r+b−z0) < 0 | mean σ′ with / without b |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for seed in seeds:
        bc, kto, depo = (load_weights(args.run_dir / stage / seed / "final") for stage in ("bc", "kto", "depo"))
        kto_move, depo_move, gap = distance(kto, bc), distance(depo, bc), distance(depo, kto)
        beta = json.loads((args.run_dir / "depo" / seed / "train_config.json").read_text())["loss"]["beta"]
        negative, counted, ratio = bonus_effect(args.run_dir / "depo" / seed / "metrics.jsonl", beta)
        print(f"| {seed} | {kto_move:.4f} | {depo_move:.4f} | {gap:.4f} | {gap / kto_move:.1%} | {negative} of {counted} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
