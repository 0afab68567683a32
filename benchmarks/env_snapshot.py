"""What one search expansion pays to branch a BabyAI world: ``snapshot()`` + ``restore()`` of
the text environment against two deep copies of the same minigrid env (what they cost before
snapshots were pickled), on the same states in the same run.

    .venv/bin/python benchmarks/env_snapshot.py --tasks 0 90 180 270 360 --turns 3 --repeats 200

Each task is reset and played ``--turns`` of its offered actions (the first one each turn), so
the world has moved; then both ways are timed ``--repeats`` times, alternating, and the table
gives the median microseconds of a snapshot + restore and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.babyai import BabyAIConfig, BabyAITextEnv  # noqa: E402


def microseconds(work) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, nargs="+", default=[0, 90, 180, 270, 360])
    parser.add_argument("--turns", type=int, default=3, help="turns played before the state is branched")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    env = BabyAITextEnv(BabyAIConfig(max_turns=None))
    print("| task | level | snapshot + restore µs | two deep copies µs | ratio |")
    print("|---:|---|---:|---:|---:|")
    for task_id in args.tasks:
        env.reset(options={"task_id": task_id})
        for _ in range(args.turns):
            env.step(f"Action: {next(iter(env.available_actions))}")
        pickled, copied = [], []
        for _ in range(args.repeats):
            pickled.append(microseconds(lambda: env.restore(env.snapshot())))
            copied.append(microseconds(lambda: copy.deepcopy(copy.deepcopy(env.minigrid))))
        ours, theirs = statistics.median(pickled), statistics.median(copied)
        print(f"| {task_id} | {env.task.level} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
